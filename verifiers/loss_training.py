"""The loss-training verifier: train with the candidate loss in the sandbox, grade the weights on the host.

The candidate is untrusted code, so the gate and the training both run inside the sandbox (see
`verifiers/loss_harness.py`). The job sees only the training split; it returns the trained weights and the
host measures them on validation or test data the job never had. A candidate can therefore at worst hand back
different weights, never a different score for the weights it hands back.

What the verifier needs from a task is a `LossProblem`: the files of the job and a host-side grader.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.errors import VerifierError
from agent.types import Hypothesis, Verdict, VerdictStatus
from sandboxes.base import ExecResult, Job, Limits, Sandbox
from sandboxes.shared import run_job

HARNESS_SOURCE = Path(__file__).with_name("loss_harness.py")
RESULT_MARK = "@@ASSAY-LOSS-RESULT@@"  # equal to loss_harness.RESULT_MARK; that module imports torch
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    "PYTHONHASHSEED": "0",
}


class MalformedRun(Exception):
    """The job's reply does not decode into weights of the expected shapes (a broken or forging candidate)."""


@dataclass(frozen=True)
class Graded:
    """The host's measurement of one finished job."""

    score: float
    passed: bool  # False: it trained but learned nothing worth keeping (e.g. at chance)
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""


class LossProblem(Protocol):
    """One loss-discovery problem: what the job gets and how the host grades what comes back."""

    #: the sandbox-side trainer script; it imports `harness` and reads `config.json`
    trainer_source: str

    def job_files(self, seeds: Sequence[int]) -> dict[str, bytes | str]:
        """Training data and configuration (never validation or test data)."""
        ...

    def grade(self, record: dict[str, Any], split: str) -> Graded:
        """Measure the returned weights on `split`; raise MalformedRun when they do not decode."""
        ...


def find_record(stdout: str) -> dict[str, Any] | None:
    """The last result record the harness wrote, or None when the job never got that far."""
    at = stdout.rfind(RESULT_MARK)
    if at < 0:
        return None
    line = stdout[at + len(RESULT_MARK) :].split("\n", 1)[0]
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def _gate_text(record: dict[str, Any]) -> str:
    findings = record.get("gate") or []
    return "Gate passed: " + "; ".join(str(f) for f in findings) if findings else ""


class LossTrainingVerifier:
    """Gate + seeded training in the sandbox; score = the host's metric averaged over `seeds`."""

    version = "1"

    def __init__(
        self,
        name: str,
        problem: LossProblem,
        *,
        seeds: Sequence[int],
        split: str,
        limits: Limits,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.name = name
        self.problem = problem
        self.seeds = tuple(seeds)
        self.split = split
        self.limits = limits
        self._sandbox = sandbox

    def job(self, source: str) -> Job:
        files: dict[str, bytes | str] = {
            "harness.py": HARNESS_SOURCE.read_text(encoding="utf-8"),
            "trainer.py": self.problem.trainer_source,
            "candidate.py": source,
            **self.problem.job_files(self.seeds),
        }
        return Job(command=["python3", "trainer.py"], files=files, env=dict(THREAD_ENV), limits=self.limits)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        result = await run_job(self.job(hypothesis.content), self._sandbox)
        verdict = self.judge(result)
        return verdict.model_copy(update={"duration_s": time.monotonic() - started})

    def judge(self, result: ExecResult) -> Verdict:
        """Turn what the job reported into a verdict; the score always comes from the host's own grading."""
        record = find_record(result.stdout)
        gate = _gate_text(record) if record else ""
        if result.timed_out:
            where = (
                "during training (the gate had passed)"
                if record and record.get("status") == "gated"
                else "before the gate finished (the loss never returned?)"
            )
            msg = f"Timed out after {self.limits.wall_s:g} s {where}. Keep the loss cheap and loop-free."
            return Verdict(status=VerdictStatus.TIMEOUT, feedback=msg)
        if result.oom:
            return Verdict(status=VerdictStatus.ERROR, feedback="Ran out of memory while training.")
        if record is None or record.get("status") == "gated":
            how = f"exit code {result.exit_code}" if result.signal is None else f"signal {result.signal}"
            return Verdict(
                status=VerdictStatus.ERROR,
                feedback=f"The training process ended without a result ({how}).\n{_tail(result.stderr)}",
            )
        status = record.get("status")
        reason = str(record.get("reason", ""))
        if status == "invalid":
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Rejected by the gate: {reason}")
        if status == "nonfinite":
            return Verdict(status=VerdictStatus.FAIL, feedback=f"{gate}\nTraining stopped: {reason}".strip())
        if status == "error":
            text = f"{gate}\n{reason}\n{record.get('traceback', '')}".strip()
            return Verdict(status=VerdictStatus.ERROR, feedback=text)
        if status != "done":
            raise VerifierError(f"{self.name}: unknown result status {status!r} from the loss trainer")
        try:
            graded = self.problem.grade(record, self.split)
        except MalformedRun as e:
            return Verdict(status=VerdictStatus.ERROR, feedback=f"The job returned malformed weights: {e}")
        return Verdict(
            status=VerdictStatus.OK if graded.passed else VerdictStatus.FAIL,
            score=graded.score,
            metrics={**graded.metrics, "train_wall_s": result.wall_s},
            feedback=f"{gate}\n{graded.feedback}".strip(),
        )
