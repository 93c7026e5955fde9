"""A store row that cannot be read is skipped (or its bad value replaced) with a one-line note, never an
exception; verdicts an earlier release cached without a sandbox identity are reused only where no sandbox
could have changed them. Real SQLite files, damaged with raw SQL."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from agent.kernel.errors import StoreError
from agent.kernel.records import Spend
from agent.kernel.types import Hypothesis, Message, Verdict, VerdictStatus
from agent.store.sqlite import NO_SANDBOX, Store
from tests.agent.store.legacy import ID_37, OPEN, search_version, write_legacy_store

KEY = "example/guess#0"


def damage(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)


def test_unreadable_rows_are_skipped_and_bad_values_replaced_with_notes(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with Store(path) as store:
        run_id = store.create_run("example/guess", '{"model": "openai/x"}')
        store.start_search(run_id, KEY, 0)
        for sample, content in enumerate(("1", "2")):
            h = Hypothesis.create(content, iteration=1)
            store.record_hypothesis(run_id, KEY, sample, h, Verdict(status=VerdictStatus.FAIL, score=-1.0))
        store.record_iteration(run_id, KEY, 1, -1.0, -1.0, Spend(2, 10, 0.1), 1.0)
        store.record_call(run_id, KEY, 1, 0, [Message(role="user", content="q")], {}, None, "boom")
    damage(
        path,
        "UPDATE hypotheses SET verdict_json = '{not json' WHERE sample = 0",
        "UPDATE iterations SET best_score = 'abc', calls = 'x'",
        "UPDATE searches SET best_status = 'weird', elapsed_s = 'long'",
        'UPDATE llm_calls SET messages_json = \'[{"role": "wizard"}]\'',
        "UPDATE llm_calls SET cost_usd = 'free', prompt_tokens = 'many'",
        "UPDATE runs SET summary_json = '[1, 2]', created = 'yesterday'",
    )
    with Store(path) as store:
        [kept] = store.hypotheses(run_id, KEY)
        assert kept.hypothesis.content == "2"
        [it] = store.iterations(run_id, KEY)
        assert (it.best_score, it.calls, it.tokens) == (None, 0, 10)
        search = store.get_search(run_id, KEY)
        assert search is not None and search.best_status is None and search.elapsed_s == 0.0
        assert store.calls(run_id) == [] and store.recorded_calls(run_id, KEY, 1) == {}
        assert store.spend(run_id, KEY) == Spend(1, 0, 0.0)
        [run] = store.list_runs()
        assert run.summary is None and run.created == 0.0 and run.config == {"model": "openai/x"}
        notes = store.notes
    assert len(notes) == len(set(notes)) >= 8 and all("\n" not in n for n in notes)
    joined = "\n".join(notes)
    for said in (
        "verdict_json is not valid JSON",
        "best_score",
        "best_status",
        "messages_json",
        "summary_json",
    ):
        assert said in joined


def test_an_unreadable_cached_verdict_is_a_miss_and_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    verdict = Verdict(status=VerdictStatus.OK, score=1.0, metrics={"m": math.nan})
    with Store(path) as store:
        store.cache_verdict(KEY, "h", "search:v", "1", verdict, sandbox="docker:x")
    damage(path, "UPDATE verdicts SET verdict_json = '{not json'")
    with Store(path) as store:
        assert store.cached_verdict(KEY, "h", "search:v", "1", sandbox="docker:x") is None
        assert store.notes
        store.cache_verdict(KEY, "h", "search:v", "1", verdict, sandbox="docker:x")
        again = store.cached_verdict(KEY, "h", "search:v", "1", sandbox="docker:x")
        assert again is not None and math.isnan(again.metrics["m"])


def test_a_verdict_that_breaks_the_invariants_is_never_stored(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        forged = Verdict.model_construct(status=VerdictStatus.ERROR, score=1.0, metrics={}, feedback="")
        with pytest.raises(StoreError, match="cannot carry a score"):
            store.cache_verdict(KEY, "h", "search:v", "1", forged, sandbox=NO_SANDBOX)
        assert store.cached_verdicts(KEY) == []


def test_nan_stored_as_null_by_an_earlier_release_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with Store(path) as store:
        store.cache_verdict(KEY, "h", "search:v", "1", Verdict(status=VerdictStatus.OK), sandbox=NO_SANDBOX)
    old = (
        '{"status":"fail","score":-1.0,"metrics":{"cpu":null,"ok":1.0},"feedback":"","artifacts":{},'
        '"duration_s":null}'
    )
    damage(path, f"UPDATE verdicts SET verdict_json = '{old}'")
    with Store(path) as store:
        verdict = store.cached_verdict(KEY, "h", "search:v", "1", sandbox=NO_SANDBOX)
    assert verdict is not None and math.isnan(verdict.metrics["cpu"]) and verdict.metrics["ok"] == 1.0
    assert verdict.duration_s == 0.0 and verdict.notes


def test_verdicts_cached_before_identities_are_reused_only_without_a_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    write_legacy_store(path)
    version = search_version(0, 37)
    with Store(path) as store:
        assert {c.sandbox for c in store.cached_verdicts(OPEN)} == {""}
        assert store.cached_verdict(OPEN, ID_37, "search:guess", version, sandbox=NO_SANDBOX) is not None
        assert store.cached_verdict(OPEN, ID_37, "search:guess", version, sandbox="docker:abc") is None
        assert store.cached_verdict(OPEN, ID_37, "search:guess", version, sandbox="process:plain:py") is None
