"""Schema versions of the run store, and the migrations that bring an older file up to date.

The version lives in SQLite's own header field, `PRAGMA user_version`, so the file stays a plain SQLite
database that any tool can open. Versions:

* 0: no assay schema, *or* the schema assay shipped before it versioned its store. That schema never set
  `user_version`, so both read as 0; they are told apart by nothing, and need not be: the first migration
  creates the version-1 tables only where they are missing.
* 1: the tables of the first release (runs, searches, llm_calls, hypotheses, verdicts, iterations), exactly
  as that release created them. `_V1_TABLES` is frozen: it is history, not the current schema.
* 2: `runs.task_module`, the module that registered the run's task, so `assay resume` can import a plugin
  task again. Nullable: runs recorded before it have none.
* 3: `verdicts.sandbox`, the identity of the sandbox a cached verdict was produced in, part of the cache key,
  so a verdict of one backend (the process sandbox, which may lack torch) is never reused on another.
  Rows cached before it get "" (unknown): a task that runs candidate code never reuses them; a task that
  runs none (identity "none") still does, since no sandbox could have changed its verdicts.

`MIGRATIONS[n]` turns version n into n + 1. A new schema change is a new function appended to the list, never
an edit of an old one, so every file, whatever version it was written with, reaches the same schema by the
same steps; a new file is created by running them all. All pending steps and the new `user_version` commit in
one transaction: a crash mid-migration leaves the file at its old version, and two processes opening an old
file at once migrate it once (the second finds the version already raised once it holds the write lock).

No index is added beside the primary keys: every query of the store filters on a prefix of one
((run_id, problem_key, ...) for calls, hypotheses and iterations; (problem_key, ...) for verdicts), which
SQLite already serves from the primary key's index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from agent.kernel.errors import StoreError

_V1_TABLES = (
    """CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,            -- running | finished | interrupted | failed
    task TEXT NOT NULL,
    config_json TEXT NOT NULL,
    summary_json TEXT
)""",
    """CREATE TABLE IF NOT EXISTS searches (
    run_id TEXT NOT NULL,
    problem_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,            -- running | finished
    stop_reason TEXT,
    stop_detail TEXT,
    elapsed_s REAL NOT NULL DEFAULT 0,
    best_hypothesis_id TEXT,
    best_score REAL,
    best_status TEXT,
    held_out_json TEXT,
    PRIMARY KEY (run_id, problem_key)
)""",
    """CREATE TABLE IF NOT EXISTS llm_calls (
    run_id TEXT NOT NULL,
    problem_key TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    sample INTEGER NOT NULL,
    created REAL NOT NULL,
    messages_json TEXT NOT NULL,
    params_json TEXT NOT NULL,
    ok INTEGER NOT NULL,
    response_text TEXT,
    error TEXT,
    model TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    latency_s REAL,
    finish_reason TEXT,
    PRIMARY KEY (run_id, problem_key, iteration, sample)
)""",
    """CREATE TABLE IF NOT EXISTS hypotheses (
    run_id TEXT NOT NULL,
    problem_key TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    sample INTEGER NOT NULL,
    id TEXT NOT NULL,
    content TEXT NOT NULL,
    parent_ids_json TEXT NOT NULL,
    model TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    verdict_json TEXT NOT NULL,
    PRIMARY KEY (run_id, problem_key, iteration, sample)
)""",
    """CREATE TABLE IF NOT EXISTS verdicts (
    problem_key TEXT NOT NULL,
    hypothesis_id TEXT NOT NULL,
    verifier TEXT NOT NULL,
    version TEXT NOT NULL,
    created REAL NOT NULL,
    verdict_json TEXT NOT NULL,
    PRIMARY KEY (problem_key, hypothesis_id, verifier, version)
)""",
    """CREATE TABLE IF NOT EXISTS iterations (
    run_id TEXT NOT NULL,
    problem_key TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    best_score REAL,
    iteration_best REAL,
    calls INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    elapsed_s REAL NOT NULL,
    PRIMARY KEY (run_id, problem_key, iteration)
)""",
)

Migration = Callable[[sqlite3.Connection], None]


def _to_v1_baseline(db: sqlite3.Connection) -> None:
    """An empty file gets the first release's tables; a file that release wrote already has them."""
    for statement in _V1_TABLES:
        db.execute(statement)


def _to_v2_task_module(db: sqlite3.Connection) -> None:
    """Record which module registered a run's task, so a plugin task can be found again on resume."""
    db.execute("ALTER TABLE runs ADD COLUMN task_module TEXT")


#: the verdicts table from version 3 on (SQLite cannot change a primary key in place: it is rebuilt)
_V3_VERDICTS = """CREATE TABLE verdicts_v3 (
    problem_key TEXT NOT NULL,
    hypothesis_id TEXT NOT NULL,
    verifier TEXT NOT NULL,
    version TEXT NOT NULL,
    sandbox TEXT NOT NULL,           -- the sandbox's identity; "none": no sandbox; "": unknown (before v3)
    created REAL NOT NULL,
    verdict_json TEXT NOT NULL,
    PRIMARY KEY (problem_key, hypothesis_id, verifier, version, sandbox)
)"""


def _to_v3_sandbox_identity(db: sqlite3.Connection) -> None:
    """Key the verdict cache by the sandbox too; the verdicts cached so far have no known sandbox ("")."""
    db.execute(_V3_VERDICTS)
    columns = "problem_key, hypothesis_id, verifier, version, {sandbox}, created, verdict_json"
    db.execute(
        f"INSERT INTO verdicts_v3 ({columns.format(sandbox='sandbox')})"
        f" SELECT {columns.format(sandbox=repr(''))} FROM verdicts"
    )
    db.execute("DROP TABLE verdicts")
    db.execute("ALTER TABLE verdicts_v3 RENAME TO verdicts")


MIGRATIONS: Sequence[Migration] = (_to_v1_baseline, _to_v2_task_module, _to_v3_sandbox_identity)
CURRENT_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def check_not_newer(version: int, where: object) -> None:
    """A newer file may hold columns or meanings this code would silently drop or misread: refuse it."""
    if version > CURRENT_VERSION:
        raise StoreError(
            f"run store {where} was written by a newer assay (schema version {version}; "
            f"this assay reads up to {CURRENT_VERSION}): upgrade assay or use another --db"
        )


def migrate(db: sqlite3.Connection, where: object) -> int:
    """Bring the file to `CURRENT_VERSION` in one transaction; returns the version it was found at.

    `db` must be in autocommit mode (`isolation_level=None`), so the transaction here is the only one.
    """
    found = schema_version(db)
    check_not_newer(found, where)
    if found == CURRENT_VERSION:
        return found  # the common case takes no write lock, so a reader never waits on a running writer
    db.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(db)  # another process may have migrated it while we waited for the lock
        check_not_newer(found, where)
        for migration in MIGRATIONS[found:]:
            migration(db)
        db.execute(f"PRAGMA user_version = {CURRENT_VERSION:d}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found
