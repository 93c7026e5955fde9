"""The host's reading of a loss job's record: every field is hostile input, and whatever is wrong with it is
the candidate's verdict, never an exception out of the verifier (the record now comes from the trusted
trainer, but it crosses the sandbox boundary, so it is decoded as if the candidate wrote it).

No sandbox: each case hands `judge` a crafted job result. The decompression bomb is measured in a fresh
interpreter, as in tests/sandboxes/test_host_memory.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from agent.kernel.sandbox import ExecResult
from agent.kernel.types import VerdictStatus
from tasks.loss.digits import DigitsConfig, NoisyDigits
from tasks.loss.limits import training_limits
from tasks.loss.weights import bounded_decompress
from verifiers.loss.problem import MalformedRun
from verifiers.loss.verifier import RESULT_MARK, LossTrainingVerifier

CONFIG = DigitsConfig(epochs=3, sample_epochs=(1, 3))
N_PARAMS = 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10


def blob(values: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(values.tobytes())).decode()


GOOD = blob(np.zeros(N_PARAMS, np.float32))


def verifier(seeds=(0,)) -> LossTrainingVerifier:
    return LossTrainingVerifier(
        "loss-train:record", NoisyDigits(CONFIG), seeds=seeds, split="val", limits=training_limits(60)
    )


def judged(record: object, seeds=(0,)):
    line = "\n" + RESULT_MARK + json.dumps(record) + "\n"
    return verifier(seeds).judge(ExecResult(exit_code=0, stdout=line))


def run(**fields: object) -> dict:
    return {"seed": 0, "weights": GOOD, "snapshots": {}, "losses": {"1": 2.0}, **fields}


def test_a_well_formed_record_is_graded() -> None:
    v = judged({"status": "done", "gate": ["scale 1: ok"], "runs": [run()]})
    assert v.status is VerdictStatus.FAIL and v.score == pytest.approx(0.1, abs=0.1)  # zeros: chance


@pytest.mark.parametrize(
    "record",
    [
        {"status": "done", "runs": "many"},
        {"status": "done", "runs": []},
        {"status": "done", "runs": [run(), run()]},  # more runs than seeds
        {"status": "done", "runs": [run(seed=1)]},  # a seed the host did not ask for
        {"status": "done", "runs": [run(seed=True)]},
        {"status": "done", "runs": [run(seed=0.0)]},
        {"status": "done", "runs": [["not", "a", "record"]]},
        {"status": "done", "runs": [run(weights=None)]},
        {"status": "done", "runs": [run(weights="@@@not base64")]},
        {"status": "done", "runs": [run(weights=blob(np.zeros(N_PARAMS + 1, np.float32)))]},
        {"status": "done", "runs": [run(weights=blob(np.zeros(10, np.float32)))]},
        {"status": "done", "runs": [run(weights=blob(np.full(N_PARAMS, np.nan, np.float32)))]},
        {"status": "done", "runs": [run(weights="A" * 10_000_000)]},
        {"status": "done", "runs": [run(losses=[1, 2])]},
        {"status": "done", "runs": [run(losses={"1": "x"})]},
        {"status": "done", "runs": [run(losses={"1": None})]},
        {"status": "done", "runs": [run(losses={"one": 1.0})]},
        {"status": "done", "runs": [run(losses={"1": 1e400})]},  # json: Infinity
        {"status": "done", "runs": [run(snapshots=[GOOD])]},
        {"status": "done", "runs": [run(snapshots={"1": 3})]},
        {"status": "done", "runs": [run(snapshots={"9999999": GOOD})]},
        {"status": "done", "runs": [run(seed=[0])]},
    ],
)
def test_malformed_fields_are_the_candidates_error(record: dict) -> None:
    v = judged(record)
    assert v.status is VerdictStatus.ERROR and v.score is None
    assert "malformed" in v.feedback or "expected" in v.feedback


@pytest.mark.parametrize("status", ["finished", None, 3, ["done"], {"a": 1}, "x" * 10_000])
def test_an_unknown_status_is_an_error_verdict(status: object) -> None:
    v = judged({"status": status, "runs": [run()]})
    assert v.status is VerdictStatus.ERROR and "unknown status" in v.feedback
    assert len(v.feedback) < 200


@pytest.mark.parametrize("field", ["gate", "reason", "traceback"])
def test_odd_text_fields_do_not_raise(field: str) -> None:
    for value in (None, 3, {"a": [1]}, ["x"] * 1000, "y" * 100_000):
        v = judged({"status": "error", field: value})
        assert v.status is VerdictStatus.ERROR and len(v.feedback) < 20_000


def test_a_malformed_snapshot_only_loses_its_feedback_line() -> None:
    v = judged({"status": "done", "runs": [run(snapshots={"1": "!!"})]})
    assert v.status is VerdictStatus.FAIL and v.score is not None


def test_bounded_decompress_refuses_more_than_the_expected_size() -> None:
    with pytest.raises(MalformedRun, match="longer"):  # could not be a compressed 4000 bytes
        bounded_decompress(base64.b64encode(zlib.compress(bytes(50 << 20), 9)).decode(), 4000)
    with pytest.raises(MalformedRun, match="expected 4000 bytes of parameters, got more than 4000"):
        bounded_decompress(base64.b64encode(zlib.compress(bytes(400_000), 9)).decode(), 4000)
    assert bounded_decompress(blob(np.ones(1000, np.float32)), 4000) == np.ones(1000, np.float32).tobytes()
    with pytest.raises(MalformedRun, match="got 3996"):
        bounded_decompress(blob(np.ones(999, np.float32)), 4000)


BOMB_PROBE = """
import base64, json, resource, sys, zlib
from agent.kernel.sandbox import ExecResult
from tasks.loss.digits import DigitsConfig, NoisyDigits
from tasks.loss.limits import training_limits
from verifiers.loss.verifier import RESULT_MARK, LossTrainingVerifier

def bomb(mb):
    z = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    return base64.b64encode(b"".join([z.compress(chunk) for _ in range(mb)] + [z.flush()])).decode()
weights, snapshot = bomb(int(sys.argv[1])), bomb(int(sys.argv[2]))
run = {"seed": 0, "weights": weights, "snapshots": {str(e): snapshot for e in (1, 2)}, "losses": {}}
record = "\\n" + RESULT_MARK + json.dumps({"status": "done", "runs": [run]}) + "\\n"
v = LossTrainingVerifier("bomb", NoisyDigits(DigitsConfig(epochs=3, sample_epochs=(1, 2, 3))), seeds=(0,),
                         split="val", limits=training_limits(60))
zeros = base64.b64encode(zlib.compress(bytes(4 * 26122))).decode()
warm = {"status": "done", "runs": [{"seed": 0, "weights": zeros, "snapshots": {}, "losses": {}}]}
v.judge(ExecResult(exit_code=0, stdout="\\n" + RESULT_MARK + json.dumps(warm) + "\\n"))  # imports, data
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
verdict = v.judge(ExecResult(exit_code=0, stdout=record))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "status": verdict.status.value,
                  "feedback": verdict.feedback[:200], "bomb_chars": len(weights) + 2 * len(snapshot)}))
"""


@pytest.mark.parametrize(("weights_mb", "snapshot_mb"), [(2048, 2048), (100, 50)], ids=["long", "short"])
def test_a_decompression_bomb_keeps_host_memory_bounded(weights_mb: int, snapshot_mb: int) -> None:
    """Weights and two snapshots, each a bomb: 2 GiB of zeros apiece in ~2.8 MB of base64 (longer than the
    expected size could compress to: refused unread), or 100 MB and 50 MB (short enough to pass that check:
    inflated no further than the expected size). The old code inflated every one of them in full."""
    args = [sys.executable, "-c", BOMB_PROBE, str(weights_mb), str(snapshot_mb)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["status"] == "error" and "malformed weights" in m["feedback"], m
    assert m["after_kb"] - m["before_kb"] < 64 * 1024, m  # the host grew < 64 MiB
