"""A scripted "model" for example/guess that bisects using the feedback it finds in its prompt."""

from __future__ import annotations

import re

from tests.support.llm_server import RecordedRequest

_FEEDBACK = re.compile(r"(-?\d+) is too (low|high)")


def bisect_guess(prompt: str, offset: int = 0) -> int:
    lo, hi = 0, 100
    for number, direction in _FEEDBACK.findall(prompt):
        if direction == "low":
            lo = max(lo, int(number) + 1)
        else:
            hi = min(hi, int(number) - 1)
    return max(lo, min(hi, (lo + hi) // 2 + offset))


def bisector(request: RecordedRequest) -> str:
    """Answers with the midpoint of what the feedback leaves open; the seed spreads samples a little."""
    seed = int(request.body.get("seed") or 0)
    return f"My guess.\nANSWER: {bisect_guess(request.prompt_text, offset=seed % 3 - 1)}"


def constant(request: RecordedRequest) -> str:
    """Ignores all feedback: what a search without reflection looks like."""
    return "ANSWER: 50"
