"""Real recorded hypotheses, as the store hands them to the archive, strategies and prompts."""

from __future__ import annotations

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus


def recorded(
    content: str,
    score: float | None,
    *,
    iteration: int = 1,
    sample: int = 0,
    status: VerdictStatus | None = None,
    feedback: str = "",
    meta: dict | None = None,
) -> RecordedHypothesis:
    """`content` verified in `iteration` as `sample`: FAIL with its score, or ERROR when unscored."""
    if status is None:
        status = VerdictStatus.ERROR if score is None else VerdictStatus.FAIL
    hypothesis = Hypothesis.create(content, iteration=iteration, model="test", meta=meta or {})
    verdict = Verdict(status=status, score=score, feedback=feedback)
    return RecordedHypothesis(sample=sample, hypothesis=hypothesis, verdict=verdict)
