"""The loss-training verifier: train with the candidate loss in the sandbox, grade the weights on the host.

The candidate is untrusted code, so the gate and the training both run inside the sandbox (see
`shipped/harness.py`). The job sees only the training split; it returns the trained weights and the host
measures them on validation or test data the job never had. A candidate can therefore at worst hand back
different weights, never a different score for the weights it hands back.

What the verifier needs from a task is a `LossProblem`: the files of the job and a host-side grader.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from agent.kernel.errors import VerifierError
from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from verifiers.loss.problem import LossProblem, MalformedRun
from verifiers.sandboxed import python_job, read_record, run_job, unfinished

HARNESS_SOURCE = (Path(__file__).parent / "shipped" / "harness.py").read_text(encoding="utf-8")
RESULT_MARK = "@@ASSAY-LOSS-RESULT@@"  # equal to shipped/harness.RESULT_MARK; that module imports torch


def _gate_text(record: dict) -> str:
    findings = record.get("gate") or []
    return "Gate passed: " + "; ".join(str(f) for f in findings) if findings else ""


class LossTrainingVerifier:
    """Gate + seeded training in the sandbox; score = the host's metric averaged over `seeds`."""

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

    @cached_property
    def version(self) -> str:
        """Everything that can change a verdict: seeds, split, limits, the shipped programs and the data,
        the problem's configuration, and the host-side grading code."""
        files = self.problem.job_files(self.seeds)
        grader = sys.modules[type(self.problem).__module__]
        return fingerprint(
            self.seeds,
            self.split,
            self.limits,
            HARNESS_SOURCE,
            self.problem.trainer_source,
            files,
            grader,
            getattr(self.problem, "config", None),
        )

    def job(self, source: str) -> Job:
        files: dict[str, bytes | str] = {
            "harness.py": HARNESS_SOURCE,
            "trainer.py": self.problem.trainer_source,
            "candidate.py": source,
            **self.problem.job_files(self.seeds),
        }
        return python_job("trainer.py", files, self.limits)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        result = await run_job(self.job(hypothesis.content), self._sandbox)
        verdict = self.judge(result)
        return verdict.model_copy(update={"duration_s": time.monotonic() - started})

    def judge(self, result: ExecResult) -> Verdict:
        """Turn what the job reported into a verdict; the score always comes from the host's own grading."""
        record = read_record(result.stdout, RESULT_MARK)
        gate = _gate_text(record) if record else ""
        gated = record is not None and record.get("status") == "gated"
        ended = unfinished(result, finished=record is not None and not gated)
        if ended is not None and ended.kind == "timeout":
            where = (
                "during training (the gate had passed)"
                if gated
                else "before the gate finished (the loss never returned?)"
            )
            msg = f"Timed out after {self.limits.wall_s:g} s {where}. Keep the loss cheap and loop-free."
            return Verdict(status=VerdictStatus.TIMEOUT, feedback=msg)
        if ended is not None and ended.kind == "oom":
            return Verdict(status=VerdictStatus.ERROR, feedback="Ran out of memory while training.")
        if ended is not None or record is None:
            how = ended.how if ended else "no record"
            tail_text = ended.stderr_tail if ended else ""
            return Verdict(
                status=VerdictStatus.ERROR,
                feedback=f"The training process ended without a result ({how}).\n{tail_text}",
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
