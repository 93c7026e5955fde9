"""Every kind of row the store writes comes back as a typed record equal to what was written (real SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.kernel.records import RecordedCall, RecordedHypothesis, Spend
from agent.kernel.types import Completion, Hypothesis, Message, StopReason, Usage, Verdict, VerdictStatus
from agent.store.records import CachedVerdictRecord, CallRecord, IterationRecord, RunRecord, SearchRecord
from agent.store.sqlite import Store

KEY = "example/guess#0"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "runs.db") as s:
        yield s


def test_a_run_round_trips_with_its_summary_and_task_module(store: Store) -> None:
    run_id = store.create_run("example/guess", '{"model": "openai/x"}', task_module="tasks.example.guess")
    [fresh] = store.list_runs()
    assert fresh.status == "running" and fresh.summary is None and fresh.created == fresh.updated
    store.set_run_status(run_id, "finished", {"solve_rate": 0.5, "problems": [{"problem": KEY}]})
    run = store.get_run(run_id)
    assert isinstance(run, RunRecord)
    assert (run.id, run.task, run.status, run.task_module) == (
        run_id,
        "example/guess",
        "finished",
        "tasks.example.guess",
    )
    assert run.summary == {"solve_rate": 0.5, "problems": [{"problem": KEY}]}
    assert run.config == {"model": "openai/x"} and run.config_json == '{"model": "openai/x"}'
    assert run.updated >= run.created
    store.set_run_status(run_id, "interrupted")  # no summary given: the recorded one is kept
    assert store.get_run(run_id).summary == {"solve_rate": 0.5, "problems": [{"problem": KEY}]}  # type: ignore[union-attr]
    with pytest.raises(AttributeError):
        run.status = "failed"  # type: ignore[misc]  # records are frozen


def test_task_module_is_optional(store: Store) -> None:
    run_id = store.create_run("example/guess", "{}")
    assert store.get_run(run_id).task_module is None  # type: ignore[union-attr]


def test_runs_are_listed_newest_first_and_iterated_oldest_first(store: Store) -> None:
    ids = [store.create_run("example/guess", "{}", run_id=f"run-{i}") for i in range(3)]
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == ids[:0:-1]
    assert [r.id for r in store.iter_runs()] == ids


def test_a_search_round_trips_running_and_finished(store: Store) -> None:
    run_id = store.create_run("example/guess", "{}")
    store.start_search(run_id, KEY, 3)
    running = store.get_search(run_id, KEY)
    assert running == SearchRecord(run_id, KEY, 3, "running", None, None, 0.0, None, None, None, None)
    assert not running.finished
    store.set_search_elapsed(run_id, KEY, 1.25)
    best = RecordedHypothesis(0, Hypothesis.create("37"), Verdict(status=VerdictStatus.OK, score=0.0))
    held = Verdict(
        status=VerdictStatus.OK, score=1.0, metrics={"m": 2.0}, feedback="HELD", artifacts={"a": "b"}
    )
    store.finish_search(
        run_id, KEY, stop_reason="target_reached", stop_detail="hit", elapsed_s=2.5, best=best, held_out=held
    )
    done = store.get_search(run_id, KEY)
    assert done is not None and done.finished
    assert done.stop_reason is StopReason.TARGET_REACHED and done.best_status is VerdictStatus.OK
    assert (done.stop_detail, done.elapsed_s, done.best_hypothesis_id, done.best_score) == (
        "hit",
        2.5,
        best.hypothesis.id,
        0.0,
    )
    assert done.held_out == held
    assert store.searches(run_id) == [done]
    assert store.get_search(run_id, "other#0") is None


def test_searches_come_in_problem_order(store: Store) -> None:
    run_id = store.create_run("example/guess", "{}")
    for position, key in ((1, "b#0"), (0, "a#1"), (2, "c#2")):
        store.start_search(run_id, key, position)
    assert [s.problem_key for s in store.searches(run_id)] == ["a#1", "b#0", "c#2"]


def test_calls_round_trip_ok_and_failed(store: Store) -> None:
    run_id = store.create_run("example/guess", "{}")
    messages = [Message(role="system", content="be brief"), Message(role="user", content="guess")]
    params = {"temperature": 0.7, "max_tokens": 64, "seed": 11}
    completion = Completion(
        text="ANSWER: 50",
        model="gpt-test",
        usage=Usage(prompt_tokens=10, completion_tokens=5),
        cost_usd=0.002,
        finish_reason="stop",
        latency_s=0.3,
    )
    store.record_call(run_id, KEY, 1, 0, messages, params, completion, None)
    store.record_call(run_id, KEY, 1, 1, messages, params, None, "HTTP 500 after 3 tries")
    ok, failed = store.calls(run_id)
    assert isinstance(ok, CallRecord) and ok.messages == tuple(messages) and ok.params == params
    assert (ok.ok, ok.response_text, ok.model, ok.prompt_tokens, ok.completion_tokens) == (
        True,
        "ANSWER: 50",
        "gpt-test",
        10,
        5,
    )
    assert (ok.cost_usd, ok.latency_s, ok.finish_reason, ok.error) == (0.002, 0.3, "stop", None)
    assert ok.recorded() == RecordedCall(True, completion, None)
    assert (failed.ok, failed.error, failed.response_text, failed.prompt_tokens) == (
        False,
        "HTTP 500 after 3 tries",
        None,
        0,
    )
    assert store.recorded_calls(run_id, KEY, 1) == {
        0: RecordedCall(True, completion, None),
        1: RecordedCall(False, None, "HTTP 500 after 3 tries"),
    }
    assert store.recorded_calls(run_id, KEY, 2) == {}
    assert store.calls(run_id, "other#0") == [] and len(store.calls(run_id, KEY)) == 2
    assert store.spend(run_id, KEY) == Spend(2, 15, 0.002)
    assert store.spend(run_id, "other#0") == Spend(0, 0, 0.0)


def test_hypotheses_round_trip_with_lineage_and_meta(store: Store) -> None:
    run_id = store.create_run("example/guess", "{}")
    first = Hypothesis.create("50", iteration=1, model="gpt-test", meta={"finish_reason": "stop"})
    second = Hypothesis.create("37", parent_ids=(first.id,), iteration=2, model="gpt-test")
    verdicts = [
        Verdict(status=VerdictStatus.FAIL, score=-13.0, feedback="50 is too high", duration_s=0.1),
        Verdict(status=VerdictStatus.OK, score=0.0, metrics={"distance": 0.0}),
    ]
    store.record_hypothesis(run_id, KEY, 1, second, verdicts[1])  # written out of order on purpose
    store.record_hypothesis(run_id, KEY, 0, first, verdicts[0])
    assert store.hypotheses(run_id, KEY) == [
        RecordedHypothesis(0, first, verdicts[0]),
        RecordedHypothesis(1, second, verdicts[1]),
    ]


def test_the_verdict_cache_round_trips(store: Store) -> None:
    verdict = Verdict(status=VerdictStatus.FAIL, score=-2.0, feedback="close", artifacts={"log": "x"})
    assert store.cached_verdict(KEY, "h1", "search:guess", "v1", sandbox="none") is None
    store.cache_verdict(KEY, "h1", "search:guess", "v1", verdict, sandbox="none")
    store.cache_verdict(
        KEY, "h2", "search:guess", "v1", Verdict(status=VerdictStatus.INVALID), sandbox="none"
    )
    assert store.cached_verdict(KEY, "h1", "search:guess", "v1", sandbox="none") == verdict
    assert (
        store.cached_verdict(KEY, "h1", "search:guess", "v2", sandbox="none") is None
    )  # a new verifier version re-verifies
    cached = store.cached_verdicts(KEY)
    assert [(c.hypothesis_id, c.verifier, c.version) for c in cached] == [
        ("h1", "search:guess", "v1"),
        ("h2", "search:guess", "v1"),
    ]
    assert isinstance(cached[0], CachedVerdictRecord) and cached[0].verdict == verdict
    assert cached[0].created <= cached[1].created
    assert store.cached_verdicts("other#0") == []


def test_iterations_round_trip_with_their_spend(store: Store) -> None:
    run_id = store.create_run("example/guess", "{}")
    store.record_iteration(run_id, KEY, 2, -1.0, -1.0, Spend(4, 120, 0.01), 3.5)
    store.record_iteration(run_id, KEY, 1, -13.0, None, Spend(2, 60, 0.0), 1.5)
    first, second = store.iterations(run_id, KEY)
    assert first == IterationRecord(run_id, KEY, 1, -13.0, None, 2, 60, 0.0, 1.5)
    assert second.spend == Spend(4, 120, 0.01) and second.iteration_best == -1.0
    assert store.iterations(run_id, "other#0") == []


def test_no_sqlite_row_leaves_the_store(store: Store) -> None:
    """Every reader returns the store's own records, which hold no `sqlite3.Row` anywhere."""
    run_id = store.create_run("example/guess", "{}")
    store.start_search(run_id, KEY, 0)
    store.record_call(run_id, KEY, 1, 0, [Message(role="user", content="q")], {}, None, "boom")
    store.record_iteration(run_id, KEY, 1, None, None, Spend(), 0.0)
    store.cache_verdict(KEY, "h", "search:guess", "v", Verdict(status=VerdictStatus.ERROR), sandbox="none")
    values = [
        store.get_run(run_id),
        *store.list_runs(),
        *store.iter_runs(),
        store.get_search(run_id, KEY),
        *store.searches(run_id),
        *store.calls(run_id),
        *store.iterations(run_id, KEY),
        *store.cached_verdicts(KEY),
    ]
    assert values and not any(isinstance(v, sqlite3.Row) for v in values)
    assert all(not isinstance(field, sqlite3.Row) for v in values for field in vars(v).values())
