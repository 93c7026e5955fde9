"""The loss-training verifier: train with the candidate loss in the sandbox, grade the weights on the host.

Inside the job the trusted trainer and the candidate loss run in two processes (see `shipped/harness.py`
and `shipped/loss_server.py`): the trainer sends the model's outputs, the candidate answers with the loss and
its gradient, and the trainer alone trains, reports and holds the seeds. The job sees only the training split;
it returns the trained weights and the host measures them on validation or test data the job never had.

The record is still decoded as hostile input (it comes from the sandbox): its size is bounded before it is
parsed, every field is checked, and whatever is wrong with it becomes the candidate's verdict, never an
exception out of `verify`.

What the verifier needs from a task is a `LossProblem`: the job's files and config, and a host-side grader.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from agent.kernel.errors import VerifierError
from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from verifiers import names as shared_names
from verifiers.loss import names
from verifiers.loss.problem import LossProblem, MalformedRun
from verifiers.peer import PEER_SOURCE, salt_id, seed_salt
from verifiers.sandboxed import python_job, read_record, run_job, tail, unfinished

SHIPPED = Path(__file__).parent / "shipped"
HARNESS_SOURCE = (SHIPPED / "harness.py").read_text(encoding="utf-8")
SERVER_SOURCE = (SHIPPED / "loss_server.py").read_text(encoding="utf-8")
RESULT_MARK = "@@ASSAY-LOSS-RESULT@@"  # equal to shipped/harness.RESULT_MARK; that module imports torch
MAX_TEXT = 8000


def _text(value: object, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= limit else text[:limit] + "..."


def _gate_text(record: dict) -> str:
    findings = record.get("gate")
    if not isinstance(findings, list) or not findings:
        return ""
    return "Gate passed: " + "; ".join(_text(f, 200) for f in findings[:4])


def check_runs(runs: object, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """The `runs` of a finished record, field by field; MalformedRun saying what is wrong."""
    if not isinstance(runs, list) or len(runs) != len(seeds):
        raise MalformedRun(f"expected {len(seeds)} training runs, got {_kind(runs)}")
    for run, seed in zip(runs, seeds, strict=True):
        if not isinstance(run, dict):
            raise MalformedRun("a training run is not a record")
        if run.get("seed") != seed or type(run.get("seed")) is not int:
            raise MalformedRun(f"expected the run of seed {seed}, got {str(run.get('seed'))[:40]}")
        if not isinstance(run.get("weights"), str):
            raise MalformedRun(f"seed {seed}: the weights are not a string")
        snapshots, losses = run.get("snapshots", {}), run.get("losses", {})
        if not isinstance(snapshots, dict) or not all(
            isinstance(v, str) and k.isdigit() and len(k) < 6 for k, v in snapshots.items()
        ):
            raise MalformedRun(f"seed {seed}: malformed snapshots")
        if not isinstance(losses, dict) or not all(
            k.isdigit() and len(k) < 6 and type(v) in (int, float) and math.isfinite(v)
            for k, v in losses.items()
        ):
            raise MalformedRun(f"seed {seed}: malformed losses")
    return runs


def _kind(value: object) -> str:
    return f"{len(value)}" if isinstance(value, list) else type(value).__name__


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
        more_seeds: Sequence[int] = (),
    ) -> None:
        """`more_seeds`: the seeds a re-verification on more seeds adds to `seeds` (`verify_at`, used by
        successive halving); none by default, so a verifier's identity stays what it was without them."""
        self.name = name
        self.problem = problem
        self.seeds = tuple(seeds)
        self.more_seeds = tuple(more_seeds)
        self.split = split
        self.limits = limits
        self._sandbox = sandbox

    @cached_property
    def version(self) -> str:
        """Everything that can change a verdict: seeds, the seed salt, split, limits, the shipped programs
        and the data, the problem's configuration, and the host-side grading code."""
        grader = sys.modules[type(self.problem).__module__]
        return fingerprint(
            self.seeds,
            salt_id(),
            self.split,
            self.limits,
            HARNESS_SOURCE,
            SERVER_SOURCE,
            PEER_SOURCE,
            self.problem.trainer_source,
            names,
            shared_names,
            self.problem.job_files(),
            self.problem.job_config(),
            grader,
            getattr(self.problem, "config", None),
            *((("more_seeds", self.more_seeds),) if self.more_seeds else ()),
        )

    @property
    def fidelities(self) -> tuple[int, ...]:
        """The seed counts it judges on (the kernel's MultiFidelityVerifier): `verify` on `seeds`, a
        re-verification on `seeds` + `more_seeds`."""
        n = len(self.seeds)
        return (n, n + len(self.more_seeds)) if self.more_seeds else (n,)

    async def verify_at(self, hypothesis: Hypothesis, seeds: int) -> Verdict:
        """The verdict on the first `seeds` of `seeds` + `more_seeds`, the wall limit scaled to match."""
        if seeds not in self.fidelities:
            raise VerifierError(f"{self.name} judges on {self.fidelities} seeds, not {seeds}")
        if seeds == len(self.seeds):
            return await self.verify(hypothesis)
        wall = self.limits.wall_s * seeds / len(self.seeds)
        wider = LossTrainingVerifier(
            self.name, self.problem, seeds=(*self.seeds, *self.more_seeds)[:seeds], split=self.split,
            limits=self.limits.model_copy(update={"wall_s": wall}), sandbox=self._sandbox,
        )  # fmt: skip
        return await wider.verify(hypothesis)

    def job(self, source: str) -> Job:
        """The job: shipped programs and training data as files, everything else on the trainer's stdin."""
        files: dict[str, bytes | str] = {
            "harness.py": HARNESS_SOURCE,
            "loss_server.py": SERVER_SOURCE,
            "peer.py": PEER_SOURCE,
            "trainer.py": self.problem.trainer_source,
            **self.problem.job_files(),
        }
        config = {
            **self.problem.job_config(),
            "seeds": list(self.seeds),
            "salt": seed_salt(),
            "candidate": source,
        }
        return python_job("trainer.py", files, self.limits, stdin=json.dumps(config).encode())

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        problem = names.undefined_names(hypothesis.content)
        if problem is not None:  # milliseconds on the host instead of a job that could only fail
            return Verdict(
                status=VerdictStatus.INVALID,
                feedback=f"Rejected before training: {problem}",
                duration_s=time.monotonic() - started,
            )
        result = await run_job(self.job(hypothesis.content), self._sandbox)
        verdict = self.judge(result)
        return verdict.model_copy(update={"duration_s": time.monotonic() - started})

    def judge(self, result: ExecResult) -> Verdict:
        """Turn what the job reported into a verdict; the score always comes from the host's own grading."""
        record = read_record(result.stdout, RESULT_MARK)
        status = record.get("status") if record else None
        gate = _gate_text(record) if record else ""
        gated = status == "gated"
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
        return self._judge_record(record, status, gate, result)

    def _judge_record(self, record: dict, status: object, gate: str, result: ExecResult) -> Verdict:
        reason = _text(record.get("reason"))
        if status == "invalid":
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Rejected by the gate: {reason}")
        if status == "nonfinite":
            return Verdict(status=VerdictStatus.FAIL, feedback=f"{gate}\nTraining stopped: {reason}".strip())
        if status == "timeout":
            return Verdict(status=VerdictStatus.TIMEOUT, feedback=f"{gate}\nStopped: {reason}.".strip())
        if status == "error":
            output = tail(result.stderr, 1500)  # what the loss's process printed (its own, or its crash)
            output = f"\nIts output (stderr):\n{output}" if output and not record.get("traceback") else ""
            text = f"{gate}\n{reason}\n{_text(record.get('traceback'))}{output}".strip()
            return Verdict(status=VerdictStatus.ERROR, feedback=text)
        if status != "done":
            return Verdict(
                status=VerdictStatus.ERROR,
                feedback=f"The job returned an unknown status {str(status)[:40]!r}.",
            )
        try:
            check_runs(record.get("runs"), self.seeds)
            graded = self.problem.grade(record, self.split)
        except MalformedRun as e:
            return Verdict(status=VerdictStatus.ERROR, feedback=f"The job returned malformed weights: {e}")
        return Verdict(
            status=VerdictStatus.OK if graded.passed else VerdictStatus.FAIL,
            score=graded.score,
            metrics={**graded.metrics, "train_wall_s": result.wall_s},
            feedback=f"{gate}\n{graded.feedback}".strip(),
        )
