"""The reward evaluator with hand-written rewards: it must tell a working reward from a sparse one and from a
reward hack by the task's true success, and turn broken rewards into failed verdicts the model can act on."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from agent.kernel.sandbox import ExecResult, Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.reward.problems import PROBLEMS
from verifiers.reward.evaluator import RESULT_MARK, RewardEvaluator

pytestmark = pytest.mark.requires_modules("numpy")

MC = PROBLEMS["mountaincar"]

SPEED_HACK = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    # a per-step speed bonus: reaching the flag ends the episode, and with it the bonus
    speed = 100.0 * np.abs(next_obs[:, 1])
    return speed, {"speed": speed}
"""

NAN_LATER = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    # finite one step from rest (the check before training: |velocity| <= 0.001 + 0.0025), NaN once the car
    # moves faster, which any training reaches within an episode; a position threshold (past -0.3) depended
    # on how far the policy got, which moved with the CPU's SIMD (never reached on one AVX-512 machine)
    speed = np.abs(next_obs[:, 1])
    return np.where(speed > 0.005, np.log(-speed), -speed), {"speed": speed}
"""

RAISES = """import numpy as np


def helper(x):
    raise ValueError("boom: weights not set")


def compute_reward(obs, action, next_obs, done):
    return helper(obs), {}
"""

WRITES_INPUT = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    obs[:, 0] = 0.5
    return -np.ones(len(obs)), {}
"""

WRONG_SHAPE = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    return -np.ones((len(obs), 2)), {}
"""


def evaluator(sandbox: Sandbox, seeds: tuple[int, ...] = (0,)) -> RewardEvaluator:
    return RewardEvaluator(MC, seeds=seeds, sandbox=sandbox)


async def verify(sandbox: Sandbox, source: str, seeds: tuple[int, ...] = (0,)):
    return await evaluator(sandbox, seeds).verify(Hypothesis.create(source))


async def test_environment_reward_solves_mountaincar(task_sandbox: Sandbox) -> None:
    verdict = await verify(task_sandbox, MC.env_reward)
    assert verdict.status is VerdictStatus.OK
    assert verdict.score is not None and verdict.score >= 0.9
    assert verdict.metrics["success_seed_0"] == verdict.score
    assert "component 'step' (episode sum): [" in verdict.feedback
    assert "task success rate: [" in verdict.feedback and "Max: " in verdict.feedback


async def test_sparse_reward_fails_with_flat_components_in_feedback(task_sandbox: Sandbox) -> None:
    verdict = await verify(task_sandbox, MC.sparse_reward)
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.score == 0.0
    assert "component 'goal' (episode sum): [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]" in verdict.feedback
    assert "from 0% of 100 fixed evaluation starts" in verdict.feedback


async def test_speed_bonus_hack_collects_reward_but_never_finishes(task_sandbox: Sandbox) -> None:
    verdict = await verify(task_sandbox, SPEED_HACK)
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.score is not None and verdict.score <= 0.05
    # its own return is high (a full 200-step episode of bonus), the true metric is near zero
    assert verdict.metrics["own_return_final"] > 50
    assert verdict.metrics["speed_final"] == pytest.approx(verdict.metrics["own_return_final"])


async def test_nan_reward_is_a_failed_verdict_that_says_where(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, NAN_LATER)
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.score is None
    assert "the reward is nan (not finite) at training step" in verdict.feedback
    assert "obs=[" in verdict.feedback and "seed 0" in verdict.feedback


async def test_exception_is_an_error_with_the_candidates_traceback(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, RAISES)
    assert verdict.status is VerdictStatus.ERROR
    assert verdict.score is None
    assert "ValueError: boom: weights not set" in verdict.feedback
    assert 'candidate.py", line 5, in helper' in verdict.feedback
    assert "runner.py" not in verdict.feedback  # the harness frames are cut


async def test_exception_at_import_is_reported_as_loading(sandbox: Sandbox) -> None:
    verdict = await verify(
        sandbox, "import no_such_module_xyz\n\n\ndef compute_reward(o, a, n, d):\n    pass\n"
    )
    assert verdict.status is VerdictStatus.ERROR
    assert "while loading your code" in verdict.feedback and "no_such_module_xyz" in verdict.feedback


async def test_inputs_are_read_only(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, WRITES_INPUT)
    assert verdict.status is VerdictStatus.ERROR
    assert "read-only" in verdict.feedback


async def test_wrong_shape_is_a_failed_verdict(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, WRONG_SHAPE)
    assert verdict.status is VerdictStatus.FAIL and verdict.score is None
    assert "shape (16, 2)" in verdict.feedback


async def test_syntax_error_is_invalid_without_training() -> None:
    ev = RewardEvaluator(MC, seeds=(0,), sandbox=None)
    verdict = await ev.verify(Hypothesis.create("def compute_reward(obs:\n    return 1\n"))
    assert verdict.status is VerdictStatus.INVALID and "SyntaxError" in verdict.feedback
    missing = await ev.verify(Hypothesis.create("def reward(obs):\n    return 1\n"))
    assert missing.status is VerdictStatus.INVALID and "compute_reward" in missing.feedback


async def test_same_candidate_and_seed_give_the_same_verdict_twice(sandbox: Sandbox) -> None:
    shaped = MC.env_reward.replace(
        "step = -np.ones(len(obs))", "step = -np.ones(len(obs)) + 10 * np.abs(next_obs[:, 1])"
    )
    first = await verify(sandbox, shaped, seeds=(3,))
    second = await verify(sandbox, shaped, seeds=(3,))
    assert first.score is not None and first.score == second.score
    assert first.metrics["own_return_final"] == second.metrics["own_return_final"]
    assert first.feedback == second.feedback


def _record(policy: object, seeds: list[int]) -> ExecResult:
    runs = [
        {"seed": s, "policy": policy, "log": {"windows": {"success": [0.0]}}, "cpu_s": 1.0} for s in seeds
    ]
    return ExecResult(exit_code=0, stdout=RESULT_MARK + json.dumps({"status": "ok", "runs": runs}) + "\n")


def _blob(arr: np.ndarray) -> dict:
    return {"shape": list(arr.shape), "b64": base64.b64encode(arr.astype(np.float64).tobytes()).decode()}


@pytest.mark.parametrize(
    ("policy", "seeds", "needle"),
    [
        (_blob(np.zeros((3, 3))), [0], "shape"),
        (_blob(np.full(MC.policy_shape(), np.nan)), [0], "NaN"),
        (_blob(np.zeros(MC.policy_shape())), [5], "seeds"),
        ({"shape": list(MC.policy_shape()), "b64": "!!"}, [0], "base64"),
    ],
)
async def test_malformed_job_output_is_an_error(policy: object, seeds: list[int], needle: str) -> None:
    verdict, trained = await RewardEvaluator(MC, seeds=(0,)).judge(_record(policy, seeds), (0,))
    assert verdict.status is VerdictStatus.ERROR and trained is None
    assert needle in verdict.feedback


async def test_a_returned_policy_is_scored_by_the_host_not_by_the_job() -> None:
    """A record that claims success in its log but returns an untrained policy scores what the policy does."""
    result = _record(_blob(np.zeros(MC.policy_shape())), [0])
    forged = result.stdout.replace('"success": [0.0]', '"success": [1.0]')
    verdict, _ = await RewardEvaluator(MC, seeds=(0,)).judge(
        result.model_copy(update={"stdout": forged}), (0,)
    )
    assert verdict.score == 0.0 and verdict.status is VerdictStatus.FAIL


USES_ENV_CONSTANTS = """import numpy as np

PARAMS["force"] = 0.0  # a copy: the trainer's dynamics keep their force
# the helpers' module is this process's copy too: forging its goal test or its constants, which the trainer
# and the host's scoring would use were it shared, changes nothing they measure
goal_reached.__globals__["goal"] = lambda state: np.ones(len(state), dtype=bool)
goal_reached.__globals__["GOAL_POSITION"] = -10.0
goal_reached.__globals__["PARAMS"]["force"] = 0.0


def compute_reward(obs, action, next_obs, done):
    step = -np.ones(len(obs)) + 0.0 * (next_obs[:, 0] >= GOAL_POSITION)
    return step, {"step": step}
"""


async def test_the_simulators_constants_are_in_scope_as_copies(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, USES_ENV_CONSTANTS)
    same_reward = await verify(sandbox, MC.env_reward)
    assert verdict.status is VerdictStatus.OK, verdict.feedback
    assert verdict.score == same_reward.score  # identical rewards, identical dynamics, identical policy
