"""What the loss-training verifier needs from a loss-discovery problem.

The family defines the protocol; `tasks/loss/` implements it. A problem ships a trainer (from its own
`shipped/` folder) and the training split only; it grades the weights that come back on the host, on data
the job never had. `grade` raises `MalformedRun` for weights that do not decode: the candidate's error.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    #: the sandbox-side trainer script; it imports `harness` and reads `config.json`
    trainer_source: str

    def job_files(self, seeds: Sequence[int]) -> dict[str, bytes | str]:
        """Training data and configuration (never validation or test data)."""
        ...

    def grade(self, record: dict[str, Any], split: str) -> Graded:
        """Measure the returned weights on `split`; raise MalformedRun when they do not decode."""
        ...
