"""Schema versions: a new file is current, an old file migrates (and resumes), a newer file is refused."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from agent.kernel.errors import StoreError
from agent.kernel.records import RecordedCall, Spend
from agent.kernel.types import StopReason, Verdict, VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.run.runner import load_stored_config
from agent.search.loop import Search, SearchSettings
from agent.search.strategies import make_strategy
from agent.store import migrations
from agent.store.migrations import CURRENT_VERSION, MIGRATIONS
from agent.store.sqlite import Store
from tasks.example.guess import make_guess_task
from tests.agent.store.legacy import (
    DONE,
    FAIL_50,
    HELD_5,
    ID_5,
    ID_37,
    ID_50,
    OK_37,
    OPEN,
    RUN_ID,
    write_legacy_store,
)
from tests.support.cli import assay
from tests.support.llm_server import ScriptedLLMServer


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def columns(path: Path, table: str) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def schema(path: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.db"
    write_legacy_store(path)
    assert user_version(path) == 0 and "task_module" not in columns(path, "runs")
    return path


def test_a_new_file_is_at_the_current_version(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db"):
        pass
    assert CURRENT_VERSION == len(MIGRATIONS) == 3
    assert user_version(tmp_path / "runs.db") == CURRENT_VERSION
    assert "task_module" in columns(tmp_path / "runs.db", "runs")


def test_an_old_file_ends_with_the_schema_of_a_new_one(tmp_path: Path, legacy: Path) -> None:
    with Store(legacy), Store(tmp_path / "new.db"):
        pass
    assert user_version(legacy) == CURRENT_VERSION
    assert schema(legacy) == schema(tmp_path / "new.db")  # one path to the schema, whatever the start


def test_an_old_file_migrates_and_every_record_reads_back(legacy: Path) -> None:
    with Store(legacy) as store:
        assert user_version(legacy) == CURRENT_VERSION
        [run] = store.list_runs()
        assert (run.id, run.status, run.task, run.summary, run.task_module) == (
            RUN_ID,
            "running",
            "example/guess",
            None,
            None,
        )
        assert run.config["budget"]["max_iterations"] == 5 and store.get_run(RUN_ID[:9]) == run
        done, open_ = store.searches(RUN_ID)
        assert (done.problem_key, done.stop_reason, done.best_status, done.best_hypothesis_id) == (
            DONE,
            StopReason.TARGET_REACHED,
            VerdictStatus.OK,
            ID_5,
        )
        assert done.held_out == Verdict.model_validate_json(HELD_5) and done.elapsed_s == 1.5
        assert (open_.problem_key, open_.status, open_.stop_reason, open_.held_out) == (
            OPEN,
            "running",
            None,
            None,
        )
        calls = store.calls(RUN_ID, OPEN)
        assert [(c.iteration, c.sample, c.ok) for c in calls] == [(1, 0, True), (1, 1, False), (2, 0, True)]
        assert calls[0].messages[0].role == "user" and calls[0].params["seed"] == 7001000
        assert store.recorded_calls(RUN_ID, OPEN, 1)[1] == RecordedCall(False, None, "HTTP 500: gave up")
        assert store.recorded_calls(RUN_ID, OPEN, 2)[0].completion.text == "ANSWER: 37"  # type: ignore[union-attr]
        assert store.spend(RUN_ID, OPEN) == Spend(3, 30, 0.003)
        [h50] = store.hypotheses(RUN_ID, OPEN)
        assert (h50.hypothesis.id, h50.hypothesis.content, h50.hypothesis.meta) == (
            ID_50,
            "50",
            {"finish_reason": "stop"},
        )
        assert h50.verdict == Verdict.model_validate_json(FAIL_50)
        cached = store.cached_verdicts(OPEN)
        assert [(c.hypothesis_id, c.verdict) for c in cached] == [
            (ID_50, Verdict.model_validate_json(FAIL_50)),
            (ID_37, Verdict.model_validate_json(OK_37)),
        ]
        assert len(store.cached_verdicts(DONE)) == 2
        [it] = store.iterations(RUN_ID, OPEN)
        assert (it.iteration, it.best_score, it.spend) == (1, -13.0, Spend(2, 15, 0.001))
        new_run = store.create_run("example/guess", "{}", task_module="tasks.example.guess")
        assert store.get_run(new_run).task_module == "tasks.example.guess"  # type: ignore[union-attr]


async def test_an_old_file_resumes_where_it_was_killed(legacy: Path) -> None:
    """The killed search replays its recorded completion and cached verdict: no model call, no verifying."""
    with Store(legacy) as store, ScriptedLLMServer("ANSWER: 99") as server:
        run_id, config = load_stored_config(store, RUN_ID[:12])
        settings = SearchSettings(samples=config.samples, top_k=config.top_k, seed=config.seed)
        model = make_model("openai/gpt-test", ModelSettings(base_url=server.openai_base_url, max_retries=0))
        outcomes = {}
        tasks = {OPEN: make_guess_task(0, 37), DONE: make_guess_task(1, 5)}
        try:
            for key, task in tasks.items():
                search = Search(
                    task=task,
                    model=model,
                    strategy=make_strategy(config.strategy),
                    budget=config.budget,
                    store=store,
                    run_id=run_id,
                    settings=settings,
                )
                outcomes[key] = await search.run()
        finally:
            await model.close()
        assert server.requests == []
        assert tasks[OPEN].verifier.calls == 0 and tasks[DONE].verifier.calls == 0  # type: ignore[attr-defined]
        resumed, finished = outcomes[OPEN], outcomes[DONE]
        assert resumed.stop_reason is StopReason.TARGET_REACHED and resumed.iterations == 2
        assert resumed.best is not None and resumed.best.hypothesis.content == "37"
        assert resumed.best.hypothesis.parent_ids == (ID_50,)  # the restored archive fed the prompt
        assert resumed.spend == Spend(3, 30, 0.003) and resumed.elapsed_s >= 2.5
        assert resumed.held_out is not None and resumed.held_out.status is VerdictStatus.OK
        assert finished.stop_reason is StopReason.TARGET_REACHED and finished.best is not None
        assert finished.best.hypothesis.id == ID_5 and finished.held_out == Verdict.model_validate_json(
            HELD_5
        )
        search = store.get_search(run_id, OPEN)
        assert search is not None and search.finished and search.best_hypothesis_id == ID_37
        assert [it.best_score for it in store.iterations(run_id, OPEN)] == [-13.0, 0.0]


def test_the_cli_lists_and_shows_an_old_file(legacy: Path) -> None:
    listed = assay("runs", "--db", str(legacy))
    assert listed.returncode == 0, listed.stderr
    assert RUN_ID in listed.stdout and "running" in listed.stdout and "openai/gpt-test" in listed.stdout
    shown = assay("show", RUN_ID[:10], "--db", str(legacy), "--json")
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["run_id"] == RUN_ID and result["status"] == "running"
    done, open_ = result["problems"]
    assert (done["problem"], done["stop_reason"], done["best_status"], done["best_hypothesis"]) == (
        DONE,
        "target_reached",
        "ok",
        "5",
    )
    assert done["held_out"]["feedback"] == "HELD-OUT-SECRET-MARKER"
    assert (
        open_["history"] == [{"iteration": 1, "best_score": -13.0, "calls": 2}] and open_["hypotheses"] == 1
    )
    assert user_version(legacy) == 0  # reading commands read an upgraded copy; the file is left as it was


def test_a_file_from_a_newer_assay_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, shape_of_the_future BLOB)")
        db.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="written by a newer assay") as raised:
        Store(path)
    assert "\n" not in str(raised.value) and str(CURRENT_VERSION + 1) in str(raised.value)
    assert path.read_bytes() == before  # refused before anything was written (not even the WAL switch)
    proc = assay("runs", "--db", str(path))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "newer assay" in line


def test_a_failing_migration_leaves_the_file_as_it_was(legacy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_done(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN half TEXT")
        raise sqlite3.OperationalError("disk on fire")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, half_done))
    monkeypatch.setattr(migrations, "CURRENT_VERSION", CURRENT_VERSION + 1)
    with pytest.raises(StoreError, match="disk on fire"):
        Store(legacy)
    assert user_version(legacy) == 0  # every step, and the version bump, rolled back together
    assert "task_module" not in columns(legacy, "runs") and "half" not in columns(legacy, "runs")
    monkeypatch.undo()
    with Store(legacy) as store:  # and the next open migrates it for real
        assert store.get_run(RUN_ID) is not None and user_version(legacy) == CURRENT_VERSION


def test_two_openers_of_an_old_file_migrate_it_once(legacy: Path) -> None:
    """The second opener waits for the first one's write lock, then finds the version already raised."""
    holder = sqlite3.connect(legacy, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the first opener, mid-migration
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            with Store(legacy) as store:
                assert store.get_run(RUN_ID) is not None
        except BaseException as e:
            errors.append(e)

    second = threading.Thread(target=open_store)
    second.start()
    time.sleep(0.5)  # let it read version 0 and block on the lock
    for migration in MIGRATIONS:
        migration(holder)
    holder.execute(f"PRAGMA user_version = {CURRENT_VERSION}")
    holder.execute("COMMIT")
    holder.close()
    second.join(timeout=30)
    assert not errors, errors  # running the task_module step twice would fail: "duplicate column name"
    assert columns(legacy, "runs").count("task_module") == 1
