"""The reward tasks: registered, showing the model what it needs (and no reward), parsing answers strictly."""

from __future__ import annotations

import pytest

from agent.kernel.errors import ParseError
from agent.kernel.plugins import list_tasks, load_suite
from tasks.reward.problems import PROBLEMS
from tasks.reward.suite import parse_reward
from verifiers.reward.evaluator import RewardEvaluator
from verifiers.reward.heldout import RewardHeldOut


@pytest.mark.parametrize("key", sorted(PROBLEMS))
def test_task_shows_source_goal_signature_and_trainer(key: str) -> None:
    suite = load_suite(f"reward/{key}")
    (task,) = suite.problems
    problem = PROBLEMS[key]
    text = task.instructions
    assert problem.goal in text and problem.trainer_facts in text
    assert "def compute_reward(obs, action, next_obs, done):" in text
    assert "def step(state" in text  # the dynamics are shown
    assert "reward" not in problem.environment_source().lower()  # ... but no reward
    assert isinstance(task.verifier, RewardEvaluator) and isinstance(task.held_out, RewardHeldOut)
    assert not set(task.verifier.seeds) & set(task.held_out.seeds)


def test_reward_tasks_are_listed() -> None:
    names = {entry.name for entry in list_tasks()}
    assert {"reward/mountaincar", "reward/pendulum", "reward/acrobot", "reward/mountaincar-dr"} <= names
    (dr,) = load_suite("reward/mountaincar-dr").problems
    assert "RANDOMISE" in dr.instructions
    assert "force (nominal 0.001, allowed [0.0005, 0.002])" in dr.instructions
    assert "0.0032" not in dr.instructions  # the real dynamics stay hidden


@pytest.mark.parametrize("name", ["reward/mountaincar", "reward/mountaincar-dr"])
def test_tasks_offer_tuning_and_share_one_tuner_between_search_and_held_out(name: str) -> None:
    (task,) = load_suite(name).problems
    assert 'TUNABLE = {"W_HEIGHT": (0.0, 10.0)}' in task.instructions
    assert "6 short trainings on separate seeds" in task.instructions
    assert task.verifier.tuner is task.held_out.tuner


def test_parse_takes_the_last_python_block_with_compute_reward() -> None:
    text = (
        "Idea.\n```python\nx = 1\n```\nFinal:\n```python\ndef compute_reward(o, a, n, d):\n    return 0\n```"
    )
    assert parse_reward(text).startswith("def compute_reward")
    with pytest.raises(ParseError, match="compute_reward"):
        parse_reward("```python\ndef reward(o):\n    return 0\n```")
    with pytest.raises(ParseError, match="no code block"):
        parse_reward("def compute_reward(o, a, n, d): return 0")


def test_scripted_e2e_completions_parse() -> None:
    from tests.verifiers.reward.fixtures import E2E_IMPROVED_COMPLETION, E2E_WEAK_COMPLETION

    assert "done.astype" in parse_reward(E2E_WEAK_COMPLETION)
    assert "energy_shaping" in parse_reward(E2E_IMPROVED_COMPLETION)
