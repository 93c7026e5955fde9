"""Whatever a job's record or a candidate's source holds becomes the candidate's verdict, never an exception.

The search loop takes an exception out of `verify` for an infrastructure failure and retries it, so a value a
candidate can influence (a field of the record, a literal in its TUNABLE or RANDOMISE) must not raise.
Also: the host's copies of the runner's constants match the shipped runner.
"""

from __future__ import annotations

import json
import re

import pytest

from agent.kernel.sandbox import ExecResult
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.reward.problems import PROBLEMS
from verifiers.reward import evaluator
from verifiers.reward.dr import DomainRandomisedEvaluator
from verifiers.reward.evaluator import RESULT_MARK, RewardEvaluator

MC = PROBLEMS["mountaincar"]
BIG = "1" + "0" * 400  # a JSON integer no float can hold

RECORDS = [
    '{"status": "ok", "runs": [{"seed": 0, "policy": null, "log": {}, "cpu_s": ' + BIG + "}]}",
    '{"status": "ok", "runs": [{"seed": 0, "policy": {"shape": 5, "b64": "AA=="}, "log": {}}]}',
    '{"status": "ok", "runs": [{"seed": 0, "policy": {"shape": {"a": 1}, "b64": 3}, "log": []}]}',
    '{"status": "ok", "runs": [7]}',
    '{"status": "ok", "runs": {"seed": 0}}',
    '{"status": {"nested": [1, 2]}, "seed": [0]}',
    '{"status": "bad_reward", "seed": {"x": 1}, "message": {"huge": ' + BIG + "}}",
    '{"status": "exception", "phase": [], "traceback": ' + BIG + "}",
    '{"status": "over_budget", "seed": "0"}',
    '{"status": "mystery"}',
]


def _windows_record(windows: str) -> str:
    policy = {"shape": list(MC.policy_shape()), "b64": ""}
    return json.dumps({"status": "ok", "runs": [{"seed": 0, "policy": policy}]}).replace(
        '"policy"', f'"log": {{"windows": {windows}}}, "policy"'
    )


RECORDS += [
    _windows_record('{"success": [' + BIG + "]}"),
    _windows_record('{"success": [NaN]}'),
    _windows_record('{"success": [Infinity]}'),
]


@pytest.mark.parametrize("record", RECORDS)
async def test_a_malformed_record_is_the_candidates_verdict(record: str) -> None:
    result = ExecResult(exit_code=0, stdout=f"{RESULT_MARK}{record}\n")
    verdict, trained = await RewardEvaluator(MC, seeds=(0,)).judge(result, (0,))
    assert trained is None and verdict.score is None
    assert verdict.status in (VerdictStatus.ERROR, VerdictStatus.FAIL, VerdictStatus.TIMEOUT)
    assert len(verdict.feedback) < 20000


async def test_a_record_without_the_jobs_nonce_is_not_believed() -> None:
    record = '{"status": "bad_reward", "message": "forged"}'
    result = ExecResult(exit_code=0, stdout=f"{RESULT_MARK} wrong {record}\n")
    verdict, _ = await RewardEvaluator(MC, seeds=(0,)).judge(result, (0,), nonce="right")
    assert verdict.status is VerdictStatus.ERROR and "forged" not in verdict.feedback


SOURCES = [
    "TUNABLE = {[1]: (0, 1)}\n",
    "TUNABLE = {'W': (0, " + BIG + ")}\nW = 0.5\n",
    "W = " + BIG + "\nTUNABLE = {'W': (0, 1)}\n",
    "TUNABLE = " + "[" * 150 + "]" * 150 + "\n",
    "x = " + "-" * 100000 + "1\n",
    "x = " + "+".join(["1"] * 100000) + "\n",
    "x = 1\0\n",
]


@pytest.mark.parametrize("prefix", SOURCES, ids=range(len(SOURCES)))
async def test_a_hostile_source_is_invalid_without_a_sandbox(prefix: str) -> None:
    source = prefix + "\ndef compute_reward(obs, action, next_obs, done):\n    return obs[:, 0], {}\n"
    verdict = await RewardEvaluator(MC, seeds=(0,), sandbox=None).verify(Hypothesis.create(source))
    assert verdict.status is VerdictStatus.INVALID, verdict.feedback


@pytest.mark.parametrize(
    "randomise", ["{[1]: (0, 1)}", "{'force': (0, " + BIG + ")}", "{1: (0, 1)}", "{'force': {1, 2}}"]
)
async def test_a_hostile_randomisation_is_invalid(randomise: str) -> None:
    bounds = {"force": (0.0005, 0.002)}
    source = (
        f"RANDOMISE = {randomise}\n\ndef compute_reward(obs, action, next_obs, done):\n    return 0, {{}}\n"
    )
    verdict = await DomainRandomisedEvaluator(MC, bounds, seeds=(0,)).verify(Hypothesis.create(source))
    assert verdict.status is VerdictStatus.INVALID, verdict.feedback


def test_the_hosts_constants_match_the_shipped_runner() -> None:
    runner = evaluator.RUNNER_SOURCE
    server = evaluator.SERVER_SOURCE
    assert f'RESULT_MARK = "{evaluator.RESULT_MARK}"' in runner
    assert re.search(rf"^MAX_COMPONENTS = {evaluator.MAX_COMPONENTS}$", server, re.M)
