"""Issue 12 through the real evaluator on real sandboxes: names in scope and the pre-checks before training.

Hand-written candidates (no model) and small trainer configs, as in test_adversarial.py: a reward that calls
a simulator helper without defining it trains; one that redefines the helper uses its own; each pre-check
answers before any training with one or two lines that name the candidate's line.
"""

from __future__ import annotations

import dataclasses

import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from tasks.reward.problems import PROBLEMS
from verifiers.reward.evaluator import RewardEvaluator

pytestmark = pytest.mark.requires_modules("numpy")

MC = dataclasses.replace(PROBLEMS["mountaincar"], trainer_config={"steps": 1500})
PENDULUM = dataclasses.replace(
    PROBLEMS["pendulum"], trainer_config={**PROBLEMS["pendulum"].trainer_config, "generations": 3}
)

USES_HEIGHT = """def compute_reward(obs, action, next_obs, done):
    h = height(next_obs[:, 0])
    step = -np.ones(len(obs))
    return step + 0.0 * h, {"h": h, "step": step}
"""
OWN_HEIGHT = "def height(position):\n    return np.zeros(len(position))\n\n\n" + USES_HEIGHT
USES_ANGLE = """def compute_reward(obs, action, next_obs, done):
    theta = angle_normalize(obs_angle(next_obs) + 2 * np.pi)
    cost = theta**2 + 0.1 * next_obs[:, 2] ** 2
    return -cost, {"cost": -cost}
"""

HEAD = "import numpy as np\n\n\ndef compute_reward(obs, action, next_obs, done):\n"
PRECHECKS = {
    "undefined": (
        HEAD + "    return -hieght(next_obs[:, 0]), {}\n",
        VerdictStatus.INVALID,
        "line 5: `hieght` is not defined: did you mean `height`?",
    ),
    "if on array": (
        HEAD + "    if next_obs[:, 0] > 0.4:\n        return np.ones(len(obs)), {}\n    return obs[:, 1], {}",
        VerdictStatus.ERROR,
        "line 5, `if next_obs[:, 0] > 0.4:`: `if next_obs[:, 0] > 0.4:` on an array of 16 environments is "
        "ambiguous: compute the value of both branches for every environment and choose per environment, "
        "`reward = np.where(next_obs[:, 0] > 0.4, value_if_true, value_if_false)`",
    ),
    "scalar function": (
        HEAD + "    import math\n    return math.sin(3 * next_obs[:, 0]), {}\n",
        VerdictStatus.ERROR,
        "line 6, `return math.sin(3 * next_obs[:, 0]), {}`: a function of one number",
    ),
    "scalar reward": (
        HEAD + "    return np.mean(next_obs[:, 0]), {}\n",
        VerdictStatus.FAIL,
        "line 5 (on 16 sample steps before training): the reward is one number for the whole batch",
    ),
    "wrong shape": (
        HEAD + "    return -np.ones((len(obs), 2)), {}\n",
        VerdictStatus.FAIL,
        "line 5 (on 16 sample steps before training): the reward has shape (16, 2); expected (16,)",
    ),
    "wrong type": (
        HEAD + "    return -np.ones(len(obs))\n",
        VerdictStatus.FAIL,
        "line 5 (on 16 sample steps before training): compute_reward returned ndarray; it must return",
    ),
    "not finite": (
        HEAD + "    r = np.sqrt(next_obs[:, 0])\n    return r, {}\n",
        VerdictStatus.FAIL,
        "line 5, `r = np.sqrt(next_obs[:, 0])` (invalid value encountered in sqrt)",
    ),
}


async def _verify(sandbox: Sandbox, problem, source: str) -> Verdict:  # type: ignore[no-untyped-def]
    return await RewardEvaluator(problem, seeds=(0,), sandbox=sandbox).verify(Hypothesis.create(source))


async def test_a_reward_that_calls_a_simulator_helper_without_defining_it_trains(sandbox: Sandbox) -> None:
    verdict = await _verify(sandbox, MC, USES_HEIGHT)
    assert verdict.status in (VerdictStatus.OK, VerdictStatus.FAIL) and verdict.score is not None
    assert verdict.metrics["h_final"] > 0  # the simulator's hill height (0.1 at its lowest)
    pendulum = await _verify(sandbox, PENDULUM, USES_ANGLE)
    assert pendulum.score is not None and "cost" in "".join(pendulum.metrics), pendulum.feedback


async def test_a_candidate_that_redefines_a_helper_uses_its_own(sandbox: Sandbox) -> None:
    verdict = await _verify(sandbox, MC, OWN_HEIGHT)
    assert verdict.score is not None, verdict.feedback
    assert verdict.metrics["h_final"] == 0.0


@pytest.mark.parametrize("kind", sorted(PRECHECKS))
async def test_each_precheck_answers_before_training_naming_the_line(sandbox: Sandbox, kind: str) -> None:
    source, status, expected = PRECHECKS[kind]
    verdict = await _verify(sandbox, MC, source)
    assert verdict.status is status and verdict.score is None, verdict.feedback
    assert expected in verdict.feedback.splitlines()[0], verdict.feedback
    assert len(verdict.feedback.splitlines()) <= 2, verdict.feedback
    assert "Checked before training" in verdict.feedback and "Training stopped" not in verdict.feedback
    assert verdict.duration_s is not None
