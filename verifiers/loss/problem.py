"""What the loss-training verifier needs from a loss-discovery problem.

The family defines the protocol; `tasks/loss/` implements it. A problem ships a trainer (from its own
`shipped/` folder), the training split only, and the trainer's config (which the verifier sends on the
trusted trainer's stdin with the seeds, out of the candidate's reach); it grades the weights that come back
on the host, on data the job never had. `grade` raises `MalformedRun` for weights that do not decode: the
candidate's error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from verifiers.sandboxed import MalformedRun

__all__ = ["Graded", "LossProblem", "MalformedRun"]


@dataclass(frozen=True)
class Graded:
    """The host's measurement of one finished job."""

    score: float
    passed: bool  # False: it trained but learned nothing worth keeping (e.g. at chance)
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""


class LossProblem(Protocol):
    """One loss-discovery problem: what the job gets and how the host grades what comes back."""

    #: the sandbox-side trainer script; it imports `harness` and reads its config from stdin
    trainer_source: str

    def job_files(self) -> dict[str, bytes | str]:
        """Training data only (never validation or test data), the same on every split: the candidate can
        read the job directory, so nothing in it may say which seeds or split it is judged on."""
        ...

    def job_config(self) -> dict[str, Any]:
        """The trainer's configuration (JSON), sent on the trusted trainer's stdin with the seeds; must
        hold `candidate_cpu_s`, the candidate process's CPU budget per training run (the same on every
        split)."""
        ...

    def grade(self, record: dict[str, Any], split: str) -> Graded:
        """Measure the returned weights on `split`; raise MalformedRun when they do not decode."""
        ...
