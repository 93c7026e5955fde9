"""The compact archive (issue 16: memory flat over a long run): an entry keeps what selection reads, the
whole records of what a prompt shows are read back from the store's rows through a bounded cache, and
every strategy plans exactly what it planned from the whole records. Real SQLite store; memory measured
with tracemalloc on counted bytes, not on time."""

from __future__ import annotations

import gc
import random
import tracemalloc
from pathlib import Path

import pytest

from agent.kernel.records import RecordedHypothesis
from agent.kernel.task import Objective, Task
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from agent.search import entries
from agent.search.archive import Archive, StoreRecords
from agent.search.breaker import INFRA_ARTIFACT
from agent.search.entries import ABSENT, ArchiveEntry, compact, form_of
from agent.search.settings import SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store

KEY = "test/compact:0"


class _Unused:
    """A verifier no plan calls (planning only reads the archive)."""

    name, version = "unused", "1"

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        raise AssertionError("planning verifies nothing")


TRACEBACK = 'Traceback (most recent call last):\n  File "candidate.py", line 2, in <module>\n    X = foo()\n'


def _record(i: int, rng: random.Random, earlier: list[str]) -> RecordedHypothesis:
    """A varied history: seeds, scored programs with metrics, repeated crashes, failed edits, repairs,
    near-duplicates, unparsed answers and infrastructure failures, spread over islands."""
    iteration = 0 if i < 2 else 1 + i // 6
    meta: dict[str, object] = {"island": rng.randrange(3)} if iteration else {"seed": True}
    kind = rng.randrange(8) if iteration else 0
    status, score, feedback, artifacts = VerdictStatus.FAIL, round(rng.random(), 2), f"score {i}", {}
    content = f"X = {rng.randrange(30)}\n"
    if kind == 1:
        status, score, feedback = (
            VerdictStatus.ERROR,
            None,
            TRACEBACK + "NameError: name 'foo' is not defined",
        )
    elif kind == 2:
        status, score, feedback = VerdictStatus.INVALID, None, "no code block"
        meta["parse_error"] = "no code block"
    elif kind == 3:
        status, score, feedback = VerdictStatus.INVALID, None, "the SEARCH part does not occur"
        meta["edit_error"] = True
    elif kind == 4:
        meta["repair_of"] = f"id{rng.randrange(5)}"
    elif kind == 5:
        meta["near_duplicate_of"] = "someone"
    elif kind == 6:
        status, score, feedback, artifacts = VerdictStatus.ERROR, None, "not judged", {INFRA_ARTIFACT: "x"}
    metrics = {"length": float(len(content)), "seeds": 1.0} if score is not None else {}
    parents = (rng.choice(earlier),) if iteration else ()  # a failed edit is repaired on its parent
    hypothesis = Hypothesis.create(content, parent_ids=parents, iteration=iteration, model="m", meta=meta)
    verdict = Verdict(status=status, score=score, metrics=metrics, feedback=feedback, artifacts=artifacts)
    return RecordedHypothesis(i % 6 if iteration else i, hypothesis, verdict)


def _records(n: int, seed: int = 5) -> list[RecordedHypothesis]:
    rng = random.Random(seed)
    out: list[RecordedHypothesis] = []
    for i in range(n):
        out.append(_record(i, rng, [r.hypothesis.id for r in out[-12:]]))
    return out


def _stored(store: Store, records: list[RecordedHypothesis], size: int) -> Archive:
    run_id = store.create_run("test/compact", "{}")
    for r in records:
        store.record_hypothesis(run_id, KEY, r.sample, r.hypothesis, r.verdict)
    archive = Archive(records=StoreRecords(lambda it, s: store.hypothesis(run_id, KEY, it, s), size=size))
    archive.extend(records)
    return archive


def test_an_entry_carries_no_score_where_its_status_allows_none() -> None:
    form = form_of(Hypothesis.create("X = 1\n"))
    ArchiveEntry(0, "id", 1, VerdictStatus.FAIL, 0.5, form)  # a judged candidate: scored
    for status in (VerdictStatus.ERROR, VerdictStatus.TIMEOUT, VerdictStatus.INVALID):
        with pytest.raises(ValueError, match="cannot carry a score"):
            ArchiveEntry(0, "id", 1, status, 0.5, form)
    with pytest.raises(ValueError, match="finite"):
        ArchiveEntry(0, "id", 1, VerdictStatus.OK, float("nan"), form)
    entry = ArchiveEntry(0, "id", 1, VerdictStatus.ERROR, None, form)
    with pytest.raises(AttributeError):
        entry.score = 1.0  # type: ignore[misc]  # frozen
    assert not hasattr(entry, "__dict__")  # slotted


def test_an_entry_keeps_the_facts_selection_reads_of_its_record() -> None:
    for r in _records(120):
        e, h, v = compact(r), r.hypothesis, r.verdict
        assert (e.sample, e.id, e.iteration, e.status, e.score) == (
            r.sample,
            h.id,
            h.iteration,
            v.status,
            v.score,
        )
        assert dict(e.metrics) == v.metrics and e.form == form_of(h)
        assert e.infrastructure == (INFRA_ARTIFACT in v.artifacts)
        assert (e.seed, e.parse_error, e.near_duplicate_of) == (
            bool(h.meta.get("seed")), "parse_error" in h.meta, "near_duplicate_of" in h.meta
        )  # fmt: skip
        assert (e.island, e.edit_error, e.repair_of) == (
            h.meta.get("island"), h.meta.get("edit_error", ABSENT), h.meta.get("repair_of", ABSENT)
        )  # fmt: skip
        assert (e.error is None) == (v.score is not None)
    unscored = [compact(r) for r in _records(60) if r.verdict.score is None]
    assert all(e.metrics is entries.NO_METRICS for e in unscored)  # one shared empty mapping


@pytest.mark.parametrize(
    "strategy, settings",
    [
        ("refine", SearchSettings(top_k=3, samples=4)),
        ("best-of-n", SearchSettings(top_k=2)),
        ("evolve", SearchSettings(samples=4, top_k=2, islands=3, migration_interval=2)),
        ("evolve", SearchSettings(samples=6, edits="diff", selection="pareto", islands=2)),
    ],
)
def test_a_store_backed_archive_plans_what_the_whole_records_plan(
    tmp_path: Path, strategy: str, settings: SearchSettings
) -> None:
    records = _records(150)
    task = Task(
        name="test/compact", problem_id="0", instructions="Set X.", parse=str, verifier=_Unused(),
        objectives=(Objective("length", "min"),),
    )  # fmt: skip
    with Store(tmp_path / "runs.db") as store:
        stored = _stored(store, records, size=4)  # most of what a prompt shows is read back from the store
        assert all(isinstance(e, ArchiveEntry) for e in stored.entries)
        for seen in (2, 30, 97, 150):
            whole, compacted = Archive(records[:seen]), Archive(stored.entries[:seen], stored.records)
            iteration = records[seen - 1].hypothesis.iteration + 1
            plans = [
                make_strategy(strategy).plan(archive, settings, iteration, random.Random(seen), task)
                for archive in (whole, compacted)
            ]
            assert plans[0] == plans[1], (strategy, seen)
        assert stored.records is not None and stored.records.reads > 0


def test_the_record_cache_keeps_its_bound_and_reads_the_rest_from_the_store(tmp_path: Path) -> None:
    records = _records(300)
    with Store(tmp_path / "runs.db") as store:
        archive = _stored(store, records, size=16)
        cache = archive.records
        assert cache is not None and len(cache) == 16 and cache.reads == 0  # the last 16 recorded
        for position in random.Random(1).sample(range(300), 100):
            assert archive.record(archive.entries[position]) == records[position]  # the store's row, whole
            assert len(cache) <= 16
        reads = cache.reads
        assert 0 < reads <= 100
        archive.top(3)
        again = cache.reads
        archive.top(3)  # what a prompt shows plan after plan stays in the cache
        assert cache.reads == again
        best = archive.best()
        assert best is not None and best == Archive(records).best()


def test_memory_per_archive_entry_stays_under_a_bound() -> None:
    """5,000 entries as a long run records them (each whole record dropped once it is compacted; the
    cache keeps none), counted bytes per entry. Counted after 5,000 entries already recorded, so that the
    bounded tables (the last 1,024 validated verdicts, the digest cache) are full and only the growth is
    counted. Measured ~340 bytes an entry (its 16 slots, the id, the digest, the score, the iteration, a
    list slot); whole records (an archive without records to read back) ~1,620 bytes, more for real programs
    and feedback."""
    rng = random.Random(3)
    archive = Archive(records=StoreRecords(lambda _it, _s: None, size=0))

    def record(i: int) -> None:
        hypothesis = Hypothesis.create(
            f"def f(x):\n    return x * {i} + {rng.randrange(99)}\n", iteration=1 + i // 32, model="m",
            meta={"finish_reason": "stop", "pipeline_seq": i, "pipeline_seen": i - i % 32},
        )  # fmt: skip
        verdict = Verdict(status=VerdictStatus.FAIL, score=rng.random(), feedback=f"score {i}; " * 20)
        archive.append(RecordedHypothesis(i % 32, hypothesis, verdict))

    n = 5_000
    tracemalloc.start()  # from the start: a block freed later is counted only if its allocation was
    try:
        for i in range(n):
            record(i)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n, 2 * n):
            record(i)
        gc.collect()
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(archive) == 2 * n
    assert per_entry < 450, per_entry
