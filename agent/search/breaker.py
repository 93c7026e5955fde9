"""The circuit breaker of a search: stop paying for answers when nothing can judge them.

An infrastructure failure (a sandbox that cannot start, a grader whose library is missing) is retried and
never cached or scored, so one is harmless; but when every verification fails the same way, each further
model call buys an answer that cannot be judged. The breaker counts such failures in a row and trips after
`SearchSettings.infra_breaker` of them; the loop then stops with `StopReason.INFRASTRUCTURE`, resumably.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.kernel.types import StopReason, Verdict, VerdictStatus

#: the artifact of a verdict that stands for an infrastructure failure: its text is the failure
INFRA_ARTIFACT = "infrastructure_error"


def infrastructure_error(verdict: Verdict) -> str | None:
    """What went wrong when `verdict` stands for an infrastructure failure (the candidate was not judged)."""
    if verdict.status is not VerdictStatus.ERROR:
        return None
    return verdict.artifacts.get(INFRA_ARTIFACT)


class InfraBreaker:
    """Counts verifications in a row that failed for the same kind of infrastructure reason (the exception's
    type: the messages of one cause differ in ids and paths); any judged verdict resets the count."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.streak = 0
        self.kind: str | None = None

    def observe(self, verdicts: Sequence[Verdict]) -> tuple[StopReason, str] | None:
        """Take verdicts in sample order; the stop reason once `limit` same-kind failures were in a row."""
        tripped: str | None = None
        for verdict in verdicts:
            failure = infrastructure_error(verdict)
            if failure is None:
                self.streak, self.kind = 0, None
                continue
            kind = failure.split(":", 1)[0].strip()
            self.streak = self.streak + 1 if kind == self.kind else 1
            self.kind = kind
            if self.streak >= self.limit:
                tripped = failure
        if tripped is None:
            return None
        first_line = " ".join(tripped.split())[:500]
        return StopReason.INFRASTRUCTURE, (
            f"{self.streak} verifications in a row failed for infrastructure ({first_line})"
        )
