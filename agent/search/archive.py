"""The archive of a search: every verified hypothesis, ranked by score."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import score_key


def rank_key(entry: RecordedHypothesis) -> tuple[float, int, int]:
    """Best score first; among equals the newer one, whose feedback is the most current."""
    return (score_key(entry.verdict.score), entry.hypothesis.iteration, -entry.sample)


@dataclass
class Archive:
    entries: list[RecordedHypothesis] = field(default_factory=list)

    def extend(self, entries: Iterable[RecordedHypothesis]) -> None:
        self.entries.extend(entries)

    def best(self) -> RecordedHypothesis | None:
        scored = [e for e in self.entries if e.verdict.score is not None]
        return max(scored, key=rank_key) if scored else None

    def best_score(self) -> float | None:
        best = self.best()
        return best.verdict.score if best else None

    def top(self, k: int) -> list[RecordedHypothesis]:
        """The k best distinct hypotheses (by id): scored ones first, then unscored ones (a crash and its
        feedback) fill the places that scored ones do not."""
        seen: set[str] = set()
        out: list[RecordedHypothesis] = []
        for entry in sorted(self.entries, key=rank_key, reverse=True):
            if entry.hypothesis.id in seen:
                continue
            seen.add(entry.hypothesis.id)
            out.append(entry)
            if len(out) == k:
                break
        return out

    def latest_iteration(self) -> list[RecordedHypothesis]:
        if not self.entries:
            return []
        last = max(e.hypothesis.iteration for e in self.entries)
        return [e for e in self.entries if e.hypothesis.iteration == last]

    def __len__(self) -> int:
        return len(self.entries)
