"""Scaffold mode (issue 12, scope 4): `reward/<env>-scaffold` shows a skeleton to fill in, judged as before.

Hand-written completions of each skeleton (what a small model would write in place of the `...`) go through
the real evaluator on real sandboxes, with small trainer configs: they train, and the constants the skeleton
declares TUNABLE are tuned by the two-level search. The skeleton left as it is fails with feedback that names
the hole's line, before any training.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from agent.kernel.plugins import load_suite
from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.reward.problems import PROBLEMS
from tasks.reward.scaffold import SKELETONS, parse_for
from tasks.reward.suite import parse_reward
from verifiers.reward.evaluator import RewardEvaluator
from verifiers.reward.heldout import RewardHeldOut
from verifiers.reward.precheck import placeholder, undefined_names
from verifiers.reward.precheck import scope as in_scope
from verifiers.reward.tunable import parse_tunable
from verifiers.reward.tuning import Tuner

pytestmark = pytest.mark.requires_modules("numpy")

SMALL = {
    "mountaincar": dataclasses.replace(PROBLEMS["mountaincar"], trainer_config={"steps": 1500}),
    "pendulum": dataclasses.replace(
        PROBLEMS["pendulum"], trainer_config={**PROBLEMS["pendulum"].trainer_config, "generations": 3}
    ),
    "acrobot": dataclasses.replace(
        PROBLEMS["acrobot"], trainer_config={**PROBLEMS["acrobot"].trainer_config, "generations": 2}
    ),
}
#: what goes in each hole: the expressions a small model is pointed to by the prompt's hints
FILLS = {
    "mountaincar": {"progress": "height(position) + 100.0 * velocity**2"},
    "pendulum": {"upright": "-theta**2", "slow": "-velocity**2"},
    "acrobot": {"height": "tip - tip_height(obs)"},
}


def fill(module: str, exprs: dict[str, str]) -> str:
    """The skeleton with each `name = ...  # hint` line replaced by `name = expr`."""
    for name, expr in exprs.items():
        module, count = re.subn(rf"^(\s*){name} = \.\.\..*$", rf"\g<1>{name} = {expr}", module, flags=re.M)
        assert count == 1, name
    return module


def answer(source: str) -> str:
    """A completion as the model writes it: some words, then the module in a python block."""
    return f"Here is the completed reward.\n\n```python\n{source}```\n"


@pytest.mark.parametrize("key", sorted(SKELETONS))
def test_scaffold_task_shows_the_skeleton_and_no_simulator_source(key: str) -> None:
    (task,) = load_suite(f"reward/{key}-scaffold").problems
    (free,) = load_suite(f"reward/{key}").problems
    skeleton = SKELETONS[key]
    assert skeleton.module in task.instructions and PROBLEMS[key].goal in task.instructions
    assert "def step(state" not in task.instructions  # the docstring describes the observation instead
    assert "gymnasium" not in task.instructions  # how the simulator was validated is not for the model
    assert len(task.instructions) < 0.7 * len(free.instructions)  # fewer prompt tokens to prefill
    for name, kind in in_scope(PROBLEMS[key].sim).items():
        if kind == "function":
            assert f"`{name}(" in task.instructions  # helpers are described, since their source is not shown
    # the same verifiers as the free-form task: scaffolding only changes what the model is shown
    assert isinstance(task.verifier, RewardEvaluator) and isinstance(task.held_out, RewardHeldOut)
    assert task.verifier.version == free.verifier.version
    assert task.verifier.tuner is task.held_out.tuner
    assert task.key != free.key  # their runs and verdicts are recorded apart


@pytest.mark.parametrize("key", sorted(SKELETONS))
def test_each_skeleton_declares_valid_tunables_and_uses_only_names_in_scope(key: str) -> None:
    module = SKELETONS[key].module
    tunables = parse_tunable(module)
    assert len(tunables) >= 2 and all(t.low <= t.written <= t.high for t in tunables)
    filled = fill(module, FILLS[key])
    assert parse_reward(answer(filled)) == filled.strip() or parse_reward(answer(filled)) == filled
    assert undefined_names(filled, in_scope(PROBLEMS[key].sim)) is None


@pytest.mark.parametrize("key", sorted(SKELETONS))
async def test_a_filled_skeleton_trains_and_its_constants_are_tuned(task_sandbox: Sandbox, key: str) -> None:
    source = parse_reward(answer(fill(SKELETONS[key].module, FILLS[key])))
    budget = 3
    ev = RewardEvaluator(SMALL[key], seeds=(0,), sandbox=task_sandbox, tuner=Tuner(budget=budget))
    verdict = await ev.verify(Hypothesis.create(source))
    assert verdict.status in (VerdictStatus.OK, VerdictStatus.FAIL), verdict.feedback
    assert verdict.score is not None
    m = verdict.metrics
    assert m["tuning_trials"] == budget and m["tuning_failed"] == 0, verdict.feedback
    for tunable in parse_tunable(source):
        assert tunable.low <= m[f"tuned_{tunable.name}"] <= tunable.high
    assert "Tuned constants" in verdict.feedback


async def test_the_skeleton_left_unfilled_fails_before_training_naming_the_hole(sandbox: Sandbox) -> None:
    source = parse_reward(answer(SKELETONS["mountaincar"].module))
    ev = RewardEvaluator(SMALL["mountaincar"], seeds=(0,), sandbox=sandbox, tuner=Tuner(budget=3))
    verdict = await ev.verify(Hypothesis.create(source))
    assert verdict.score is None and verdict.status is not VerdictStatus.OK
    first = verdict.feedback.splitlines()[0]
    hole = next(i for i, line in enumerate(source.splitlines(), 1) if "progress = ..." in line)
    assert f"line {hole}" in first and "..." in first, verdict.feedback


def test_only_an_ellipsis_computed_with_is_a_hole() -> None:
    body = "def compute_reward(obs, action, next_obs, done):\n"
    assert placeholder(body + "    ...\n    return obs[:, 0], {}\n") is None  # a body placeholder
    found = placeholder(body + "    x = obs[:, 0]\n    return x * ..., {}\n")
    assert found is not None and found.startswith("line 3: `...` is still a placeholder")
    assert found.endswith("3 | return x * ..., {}")


def test_the_parser_restores_the_skeleton_lines_an_answer_uses_without_writing() -> None:
    """Measured: qwen2.5-coder-1.5b rewrote the module's head and lost the weights it then multiplied."""
    parse = parse_for("pendulum")
    filled = fill(SKELETONS["pendulum"].module, FILLS["pendulum"])
    body = filled[filled.index("def compute_reward") :]
    restored = parse(answer("import numpy as np\n\nMAX_SPEED = 1\n\n\n" + body))
    assert undefined_names(restored, in_scope(PROBLEMS["pendulum"].sim)) is None
    assert [t.name for t in parse_tunable(restored)] == ["W_UPRIGHT", "W_VELOCITY", "W_TORQUE"]
    assert restored.index("W_UPRIGHT = 1.0") < restored.index("def compute_reward")
    assert "MAX_SPEED = 1\n" in restored  # what the model wrote stays
    # the model's own weights win and nothing is added twice; a complete answer is left as it is
    own = parse(answer(filled.replace("W_UPRIGHT = 1.0", "W_UPRIGHT = 3.0")))
    assert own.count("W_UPRIGHT = ") == 1 and "W_UPRIGHT = 3.0" in own
    assert parse(answer(filled)) == parse_reward(answer(filled))
    # without TUNABLE but with all weights written, TUNABLE comes back; with a weight dropped, it does not
    no_tunable = "\n".join(ln for ln in filled.splitlines() if not ln.startswith("TUNABLE")) + "\n"
    assert "TUNABLE = " in parse(answer(no_tunable))
    dropped = no_tunable.replace("W_TORQUE = 0.001\n", "").replace("W_TORQUE", "0.001")
    assert "TUNABLE" not in parse(answer(dropped))
