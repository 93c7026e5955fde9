"""The archive of a search: every verified hypothesis, ranked by score.

A search's archive keeps each entry compact (agent/search/entries.py: the facts selection reads) and reads a
whole record back, through a bounded cache of the store's rows (`StoreRecords`), only for what a prompt
shows: the parents, the best, a repair's target (issue 16: memory flat over a long run). An archive made
without records to read back (`Archive([...])`: tests, a replay of recorded plans) keeps its entries whole.
"""

from __future__ import annotations

import bisect
from array import array
from collections import OrderedDict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import score_key
from agent.search.entries import ArchiveEntry, Entry, compact, facts

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


def rank_key(entry: Entry) -> tuple[float, int, int]:
    """Best score first; among equals the newer one, whose feedback is the most current."""
    f = facts(entry)
    return (score_key(f.score), f.iteration, -f.sample)


#: whole records a search keeps (~2 KB each and more for long programs): well over what one prompt shows
RECORDS_KEPT = 256
#: (iteration, sample) -> the store's row of that archive entry, or None where there is none
Load = Callable[[int, int], RecordedHypothesis | None]


class StoreRecords:
    """The whole records of a store-backed archive: the `size` last used (or recorded) kept, any other
    read back from the store's row. A prompt shows a few entries (the top k, the parent, a repair's target),
    the same ones plan after plan, so they stay here; the store is read for the rare others."""

    def __init__(self, load: Load, size: int = RECORDS_KEPT) -> None:
        self._load = load
        self.size = size
        self._kept: OrderedDict[tuple[int, int], RecordedHypothesis] = OrderedDict()
        self.reads = 0  # rows read back from the store (misses), for tests and benches

    def keep(self, record: RecordedHypothesis) -> None:
        key = (record.hypothesis.iteration, record.sample)
        self._kept[key] = record
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, entry: ArchiveEntry) -> RecordedHypothesis:
        key = (entry.iteration, entry.sample)
        record = self._kept.get(key)
        if record is None:
            self.reads += 1
            record = self._load(*key)
            if record is None or record.hypothesis.id != entry.id:
                raise LookupError(f"the store has no row for archive entry {entry.id} at {key}")
        self.keep(record)
        return record


class _MetaIndex:
    """value -> the first position of an entry whose `hypothesis.meta[key]` is that value, extended by
    the entries appended since it was last asked. Valid because entries are only appended, or replaced in
    place by a re-judged verdict of the same hypothesis (the loop's stale verdicts, halving)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.first: dict[str, int] = {}
        self.upto = 0

    def update(self, entries: Sequence[Entry]) -> dict[str, int]:
        for position in range(self.upto, len(entries)):
            value = facts(entries[position]).meta_value(self.key)
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
    indexes: dict[str, _MetaIndex], key: str, entries: Sequence[Entry], seen: int
) -> Container[str]:
    """`meta[key]`'s values among the first `seen` of `entries`, from (and extending) `indexes[key]`."""
    return _Prefix(indexes.setdefault(key, _MetaIndex(key)).update(entries), seen)


def _distinct(ranked: Iterable[Entry], k: int) -> list[Entry]:
    """The first `k` entries of distinct ids, in the given (rank) order."""
    ids: set[str] = set()
    out: list[Entry] = []
    for entry in ranked:
        hid = facts(entry).id
        if hid in ids:
            continue
        ids.add(hid)
        out.append(entry)
        if len(out) == k:  # (as before: k = 0 never matches, so it means "all")
            break
    return out


@dataclass
class Archive:
    """`entries`: compact where the archive has `records` to read them back whole, else whole records."""

    entries: list[Entry] = field(default_factory=list)
    records: StoreRecords | None = None
    _meta: dict[str, _MetaIndex] = field(default_factory=dict, init=False, repr=False, compare=False)

    def meta_values(self, key: str) -> Container[str]:
        """The values `meta[key]` takes over the recorded hypotheses (e.g. the ids repairs were made of),
        kept incrementally: asking once per plan costs the entries added since, not a scan of the archive
        (issue 16: that scan, in `repair.failures`, was 45% of a 20,000-hypothesis soak's loop time)."""
        return _meta_prefix(self._meta, key, self.entries, len(self.entries))

    def record(self, entry: Entry) -> RecordedHypothesis:
        """The whole record of one of this archive's entries (read back for a compact one)."""
        if isinstance(entry, RecordedHypothesis):
            return entry
        if self.records is None:
            raise LookupError("this archive has no records to read a compact entry back from")
        return self.records.get(entry)

    def _entry(self, record: RecordedHypothesis) -> Entry:
        if self.records is None:
            share_field_names(record.hypothesis, record.verdict)
            return record
        self.records.keep(record)
        return compact(record)

    def extend(self, records: Iterable[RecordedHypothesis]) -> None:
        for record in records:
            self.append(record)

    def append(self, record: RecordedHypothesis) -> Entry:
        """Record one more entry; returns it as the archive keeps it."""
        entry = self._entry(record)
        self.entries.append(entry)
        return entry

    def replace(self, position: int, record: RecordedHypothesis) -> None:
        """Put a re-judged verdict of the same hypothesis in place (the loop's stale verdicts, halving)."""
        self.entries[position] = self._entry(record)

    def _best_entry(self) -> Entry | None:
        scored = [e for e in self.entries if facts(e).score is not None]
        return max(scored, key=rank_key) if scored else None

    def best(self) -> RecordedHypothesis | None:
        best = self._best_entry()
        return None if best is None else self.record(best)

    def best_score(self) -> float | None:
        best = self._best_entry()
        return None if best is None else facts(best).score

    def top(self, k: int) -> list[RecordedHypothesis]:
        """The k best distinct hypotheses (by id), whole: scored ones first, then unscored ones (a crash
        and its feedback) fill the places that scored ones do not."""
        return [self.record(e) for e in _distinct(sorted(self.entries, key=rank_key, reverse=True), k)]

    def latest_iteration(self) -> list[Entry]:
        if not self.entries:
            return []
        last = max(facts(e).iteration for e in self.entries)
        return [e for e in self.entries if facts(e).iteration == last]

    def __len__(self) -> int:
        return len(self.entries)


class RankIndex:
    """An archive's entries ranked best first and grouped by iteration, kept as entries are appended, so a
    view of its first `seen` entries answers `top` and `latest_iteration` without scanning the archive
    (issue 16: with a scan per plan, planning grew with the archive and dominated a long run). The
    pipelined loop builds one when it starts (after any re-judging) and adds each entry it records."""

    def __init__(self, entries: Iterable[Entry] = (), records: StoreRecords | None = None) -> None:
        """`entries` as the archive keeps them; `records`: the archive's, to read compact ones back whole."""
        self.entries: list[Entry] = []
        self.records = records
        # positions as machine words (`array`), not int objects: 28 bytes an entry less (issue 16)
        self._ranked = array("q")  # positions, best first; equal keys in position order (a stable sort)
        self._max_iteration = array("q")  # by position: the largest iteration up to it
        self._by_iteration: dict[int, array[int]] = {}
        self._meta: dict[str, _MetaIndex] = {}
        for entry in entries:
            self.add(entry)

    def _order(self, position: int) -> tuple[float, int, int]:
        """The negated rank key of the entry at `position` (computed when asked: a key kept per entry was
        ~0.15 KB of a long run's memory, issue 16)."""
        score, iteration, sample = rank_key(self.entries[position])
        return (-score, -iteration, -sample)

    def add(self, entry: Entry) -> None:
        position = len(self.entries)
        self.entries.append(entry)
        iteration = facts(entry).iteration
        bisect.insort(self._ranked, position, key=self._order)
        last = self._max_iteration[-1] if self._max_iteration else iteration
        self._max_iteration.append(max(last, iteration))
        self._by_iteration.setdefault(iteration, array("q")).append(position)

    def view(self, seen: int) -> Archive:
        """The archive of the first `seen` entries, as `Archive(entries[:seen])` but indexed."""
        return _IndexedView(self.entries[:seen], records=self.records, index=self, seen=seen)


@dataclass
class _IndexedView(Archive):
    index: RankIndex = field(default_factory=RankIndex)
    seen: int = 0

    def top(self, k: int) -> list[RecordedHypothesis]:
        ranked = (self.entries[p] for p in self.index._ranked if p < self.seen)  # as `Archive.top` sorts
        return [self.record(e) for e in _distinct(ranked, k)]

    def meta_values(self, key: str) -> Container[str]:
        return _meta_prefix(self.index._meta, key, self.index.entries, self.seen)

    def latest_iteration(self) -> list[Entry]:
        if not self.seen:
            return []
        last = self.index._max_iteration[self.seen - 1]
        return [self.entries[p] for p in self.index._by_iteration[last] if p < self.seen]
