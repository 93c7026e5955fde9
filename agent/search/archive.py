"""The archive of a search: every verified hypothesis, ranked by score."""

from __future__ import annotations

import bisect
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import score_key

#: one set of field names per (model type, names): every hypothesis of a search sets the same fields, and a
#: set of 5 names is 472 bytes, a quarter of an archive entry (issue 16: memory over a long run)
_SHARED_NAMES: dict[tuple[type, frozenset[str]], set[str]] = {}


def share_field_names(*models: BaseModel) -> None:
    """Let `models` share one `__pydantic_fields_set__` with every earlier model of the same type and names.

    Safe because the models are frozen (pydantic refuses an assignment before it would add a name) and
    pydantic's `model_copy` copies the set before it adds the updated names
    (tests/agent/search/test_archive_memory.py checks both)."""
    for model in models:
        names = model.__pydantic_fields_set__
        shared = _SHARED_NAMES.setdefault((type(model), frozenset(names)), names)
        if shared is not names:
            object.__setattr__(model, "__pydantic_fields_set__", shared)


def rank_key(entry: RecordedHypothesis) -> tuple[float, int, int]:
    """Best score first; among equals the newer one, whose feedback is the most current."""
    return (score_key(entry.verdict.score), entry.hypothesis.iteration, -entry.sample)


class _MetaIndex:
    """value -> the first position of an entry whose `hypothesis.meta[key]` is that value, extended by
    the entries appended since it was last asked. Valid because entries are only appended, or replaced in
    place by a re-judged verdict of the same hypothesis (the loop's stale verdicts, halving)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.first: dict[str, int] = {}
        self.upto = 0

    def update(self, entries: Sequence[RecordedHypothesis]) -> dict[str, int]:
        for position in range(self.upto, len(entries)):
            value = entries[position].hypothesis.meta.get(self.key)
            if isinstance(value, str):
                self.first.setdefault(value, position)
        self.upto = len(entries)
        return self.first


@dataclass(frozen=True)
class _Prefix(Container[str]):
    """The values of a `_MetaIndex` seen among the first `seen` entries."""

    first: dict[str, int]
    seen: int

    def __contains__(self, value: object) -> bool:
        position = self.first.get(value) if isinstance(value, str) else None
        return position is not None and position < self.seen


def _meta_prefix(
    indexes: dict[str, _MetaIndex], key: str, entries: Sequence[RecordedHypothesis], seen: int
) -> Container[str]:
    """`meta[key]`'s values among the first `seen` of `entries`, from (and extending) `indexes[key]`."""
    return _Prefix(indexes.setdefault(key, _MetaIndex(key)).update(entries), seen)


def _distinct(ranked: Iterable[RecordedHypothesis], k: int) -> list[RecordedHypothesis]:
    """The first `k` entries of distinct ids, in the given (rank) order."""
    ids: set[str] = set()
    out: list[RecordedHypothesis] = []
    for entry in ranked:
        if entry.hypothesis.id in ids:
            continue
        ids.add(entry.hypothesis.id)
        out.append(entry)
        if len(out) == k:  # (as before: k = 0 never matches, so it means "all")
            break
    return out


@dataclass
class Archive:
    entries: list[RecordedHypothesis] = field(default_factory=list)
    _meta: dict[str, _MetaIndex] = field(default_factory=dict, init=False, repr=False, compare=False)

    def meta_values(self, key: str) -> Container[str]:
        """The values `meta[key]` takes over the recorded hypotheses (e.g. the ids repairs were made of),
        kept incrementally: asking once per plan costs the entries added since, not a scan of the archive
        (issue 16: that scan, in `repair.failures`, was 45% of a 20,000-hypothesis soak's loop time)."""
        return _meta_prefix(self._meta, key, self.entries, len(self.entries))

    def extend(self, entries: Iterable[RecordedHypothesis]) -> None:
        for entry in entries:
            self.append(entry)

    def append(self, entry: RecordedHypothesis) -> None:
        share_field_names(entry.hypothesis, entry.verdict)
        self.entries.append(entry)

    def best(self) -> RecordedHypothesis | None:
        scored = [e for e in self.entries if e.verdict.score is not None]
        return max(scored, key=rank_key) if scored else None

    def best_score(self) -> float | None:
        best = self.best()
        return best.verdict.score if best else None

    def top(self, k: int) -> list[RecordedHypothesis]:
        """The k best distinct hypotheses (by id): scored ones first, then unscored ones (a crash and its
        feedback) fill the places that scored ones do not."""
        return _distinct(sorted(self.entries, key=rank_key, reverse=True), k)

    def latest_iteration(self) -> list[RecordedHypothesis]:
        if not self.entries:
            return []
        last = max(e.hypothesis.iteration for e in self.entries)
        return [e for e in self.entries if e.hypothesis.iteration == last]

    def __len__(self) -> int:
        return len(self.entries)


class RankIndex:
    """An archive's entries ranked best first and grouped by iteration, kept as entries are appended, so a
    view of its first `seen` entries answers `top` and `latest_iteration` without scanning the archive
    (issue 16: with a scan per plan, planning grew with the archive and dominated a long run). The
    pipelined loop builds one when it starts (after any re-judging) and adds each entry it records."""

    def __init__(self, entries: Iterable[RecordedHypothesis] = ()) -> None:
        self.entries: list[RecordedHypothesis] = []
        self._keys: list[tuple[float, int, int]] = []  # by position: the negated rank key
        self._ranked: list[int] = []  # positions, best first; equal keys in position order (a stable sort)
        self._max_iteration: list[int] = []  # by position: the largest iteration up to it
        self._by_iteration: dict[int, list[int]] = {}
        self._meta: dict[str, _MetaIndex] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: RecordedHypothesis) -> None:
        position = len(self.entries)
        self.entries.append(entry)
        score, iteration, sample = rank_key(entry)
        self._keys.append((-score, -iteration, -sample))
        bisect.insort(self._ranked, position, key=self._keys.__getitem__)
        last = self._max_iteration[-1] if self._max_iteration else iteration
        self._max_iteration.append(max(last, iteration))
        self._by_iteration.setdefault(iteration, []).append(position)

    def view(self, seen: int) -> Archive:
        """The archive of the first `seen` entries, as `Archive(entries[:seen])` but indexed."""
        return _IndexedView(self.entries[:seen], index=self, seen=seen)


@dataclass
class _IndexedView(Archive):
    index: RankIndex = field(default_factory=RankIndex)
    seen: int = 0

    def top(self, k: int) -> list[RecordedHypothesis]:
        ranked = (self.entries[p] for p in self.index._ranked if p < self.seen)  # as `Archive.top` sorts
        return _distinct(ranked, k)

    def meta_values(self, key: str) -> Container[str]:
        return _meta_prefix(self.index._meta, key, self.index.entries, self.seen)

    def latest_iteration(self) -> list[RecordedHypothesis]:
        if not self.seen:
            return []
        last = self.index._max_iteration[self.seen - 1]
        return [self.entries[p] for p in self.index._by_iteration[last] if p < self.seen]
