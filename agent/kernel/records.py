"""What a search has recorded, as plain values: what strategies, prompts and budgets read.

They are the store's output, but they do not depend on it (nor on SQLite): a strategy can be tested, or fed
from another store, with nothing but these.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.kernel.types import Completion, Hypothesis, Verdict


@dataclass(frozen=True)
class RecordedCall:
    ok: bool
    completion: Completion | None
    error: str | None


@dataclass(frozen=True, slots=True)  # slots: one per archive entry, kept for the whole search
class RecordedHypothesis:
    sample: int
    hypothesis: Hypothesis
    verdict: Verdict


@dataclass(frozen=True)
class Spend:
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
