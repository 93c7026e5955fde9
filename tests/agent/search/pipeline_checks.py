"""Checks shared by the pipelined loop's tests: that a store's records replay deterministically.

A pipelined plan is built from the archive as it was at that moment; the store records which entries that
was (`pipeline_seen`, in `pipeline_seq` order). `assert_replayable` rebuilds every recorded plan from those
entries alone and compares it with what was recorded: the prompt sent (the call's messages) and the parents
its candidate names. A resumed search rebuilds plans the same way, so if this holds it sees what the killed
one saw.
"""

from __future__ import annotations

import random

from agent.kernel.records import RecordedHypothesis
from agent.kernel.task import Task
from agent.search.archive import Archive
from agent.search.pipeline import SEEN, SEQ, archive_order
from agent.search.plan import Plan
from agent.search.settings import SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store


def assert_replayable(store: Store, run_id: str, task: Task, strategy: str, settings: SearchSettings) -> None:
    entries = sorted(store.hypotheses(run_id, task.key), key=archive_order)
    pipelined = [e for e in entries if SEQ in e.hypothesis.meta]
    seqs = [e.hypothesis.meta[SEQ] for e in pipelined]
    assert seqs == list(range(len(pipelined)))  # one position each: none lost, none twice
    calls = {(c.iteration, c.sample): c for c in store.calls(run_id, task.key)}
    for entry in pipelined:
        seen = entry.hypothesis.meta[SEEN]
        assert seen <= len(entries) - len(pipelined) + entry.hypothesis.meta[SEQ]  # it saw only the past
        plan = _rebuilt(entries[:seen], task, strategy, settings, entry.hypothesis.iteration)
        sample_plan = plan.for_sample(entry.sample)
        call = calls[(entry.hypothesis.iteration, entry.sample)]
        assert list(call.messages) == sample_plan.messages
        assert entry.hypothesis.parent_ids == sample_plan.parent_ids


def _rebuilt(
    seen: list[RecordedHypothesis], task: Task, strategy: str, settings: SearchSettings, iteration: int
) -> Plan:
    rng = random.Random(settings.sample_seed(iteration, 0))
    return make_strategy(strategy).plan(Archive(list(seen)), settings, iteration, rng, task)


def assert_one_verdict_per_answer(store: Store, run_id: str, key: str) -> None:
    """Every answered call has exactly one recorded hypothesis, and every hypothesis an answered call."""
    answered = {(c.iteration, c.sample) for c in store.calls(run_id, key) if c.ok}
    recorded = [
        (e.hypothesis.iteration, e.sample) for e in store.hypotheses(run_id, key) if e.hypothesis.iteration
    ]
    assert len(recorded) == len(set(recorded))
    assert set(recorded) == answered
