"""The store's file-level behaviour: run-id prefixes, WAL with a concurrent reader, one commit per write."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from agent.kernel.errors import StoreError
from agent.kernel.records import Spend
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from agent.store.sqlite import Store

KEY = "example/guess#0"


def test_a_unique_prefix_finds_a_run_and_an_ambiguous_one_does_not(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        store.create_run("example/guess", "{}", run_id="20240101-000000-aaaaaa")
        store.create_run("example/guess", "{}", run_id="20240101-000000-bbbbbb")
        assert store.get_run("20240101-000000-aaaaaa").id == "20240101-000000-aaaaaa"  # type: ignore[union-attr]
        assert store.get_run("20240101-000000-b").id == "20240101-000000-bbbbbb"  # type: ignore[union-attr]
        assert store.get_run("20240101") is None  # ambiguous
        assert store.get_run("20240102") is None


@pytest.mark.parametrize("pattern", ["_", "%", "2024_", "%a", "20240101-000000-aaaaa_", ""])
def test_like_wildcards_in_a_prefix_match_nothing_but_themselves(tmp_path: Path, pattern: str) -> None:
    """Before, `_` and `%` were SQL LIKE wildcards: `assay show _` opened the only run there was."""
    with Store(tmp_path / "runs.db") as store:
        store.create_run("example/guess", "{}", run_id="20240101-000000-aaaaaa")
        assert store.get_run(pattern) is None


def test_underscores_and_percents_in_ids_are_matched_literally(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        store.create_run("example/guess", "{}", run_id="abc_1")
        store.create_run("example/guess", "{}", run_id="abcx2")
        store.create_run("example/guess", "{}", run_id="50%-run")
        assert store.get_run("abc_").id == "abc_1"  # type: ignore[union-attr]  # LIKE matched both
        assert store.get_run("abcx").id == "abcx2"  # type: ignore[union-attr]
        assert store.get_run("abc") is None
        assert store.get_run("50%").id == "50%-run"  # type: ignore[union-attr]
        assert store.get_run("50").id == "50%-run"  # type: ignore[union-attr]


def test_the_file_is_in_wal_mode_and_each_write_is_committed_at_once(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with Store(db) as store:
        run_id = store.create_run("example/guess", "{}")
        # another connection sees the write while the store is still open: nothing waits for a commit
        with sqlite3.connect(db) as other:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert other.execute("SELECT id FROM runs").fetchall() == [(run_id,)]


def test_a_reader_reads_while_a_writer_writes(tmp_path: Path) -> None:
    """`assay runs` / `assay show` open the file while a run records into it; neither waits on the other."""
    db = tmp_path / "runs.db"
    with Store(db) as writer:
        run_id = writer.create_run("example/guess", "{}")
        writer.start_search(run_id, KEY, 0)
        errors: list[BaseException] = []
        seen: list[int] = []
        stop = threading.Event()

        def read() -> None:
            try:
                with Store(db) as reader:
                    while not stop.is_set():
                        seen.append(len(reader.hypotheses(run_id, KEY)))
                        assert reader.get_search(run_id, KEY) is not None
            except BaseException as e:
                errors.append(e)

        thread = threading.Thread(target=read)
        thread.start()
        try:
            # an open write transaction on the writer's side: a WAL reader still reads the last commit
            writer._db.execute("BEGIN IMMEDIATE")
            writer._db.execute("UPDATE runs SET status = 'busy' WHERE id = ?", (run_id,))
            with Store(db) as during:
                assert during.get_run(run_id).status == "running"  # type: ignore[union-attr]
            writer._db.execute("COMMIT")
            for i in range(200):
                h = Hypothesis.create(str(i), iteration=1)
                writer.record_hypothesis(run_id, KEY, i, h, Verdict(status=VerdictStatus.FAIL, score=-1.0))
                writer.record_iteration(run_id, KEY, i + 1, -1.0, -1.0, Spend(i, i, 0.0), 0.1)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not errors, errors
        assert seen and seen == sorted(seen)  # the reader saw the count only grow, each commit whole
    with Store(db) as after:
        assert len(after.hypotheses(run_id, KEY)) == 200
        assert after.get_run(run_id).status == "busy"  # type: ignore[union-attr]


def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open run store"):
        Store(blocker / "runs.db")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    db.write_bytes(b"not a database, just bytes " * 100)
    with pytest.raises(StoreError, match="cannot open run store") as raised:
        Store(db)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("group_s", [0.0, 1e-9])
def test_writes_made_together_are_committed_together(tmp_path: Path, group_s: float) -> None:
    """Another connection (what a resume after a kill -9 would read) sees all of them or none, with a
    commit per write and with group commits alike."""
    from agent.kernel.types import Completion

    db = tmp_path / "runs.db"
    with Store(db) as store:
        run_id = store.create_run("t", "{}")
        store.start_search(run_id, "t#0", 0)
        store.group_commits(group_s)
        reader = sqlite3.connect(db)

        def calls() -> int:
            return reader.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]

        with store.together():
            for sample in range(3):
                store.record_call(run_id, "t#0", 1, sample, [], {}, Completion(text="x", model="m"), None)
                assert calls() == 0
        assert calls() == 3
        store.record_call(
            run_id, "t#0", 2, 0, [], {}, Completion(text="y", model="m"), None
        )  # outside: its own
        assert calls() == 4
        reader.close()
