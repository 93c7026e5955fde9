"""A run store exactly as the release before schema versioning wrote it: a frozen fixture, never updated.

`LEGACY_SCHEMA` is that release's `SCHEMA` text, byte for byte (`git show 227dd8f:agent/store.py`); the rows
are inserted with raw SQL in the layout and JSON encoding that release used, so a test of today's `Store`
on this file checks what users' existing `.assay/runs.db` files meet. The example task's verifier version
and content ids are computed, since they are what a run of example/guess writes, not part of the schema.

The recorded run: two problems of example/guess. `#1` (secret 5) finished on its first guess. `#0` (secret
37) was killed in its second iteration: the completion "ANSWER: 37" and its verdict were recorded, the
hypothesis and iteration rows were not yet, which is what `kill -9` between two commits leaves behind.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.kernel.types import content_id
from tasks.example.guess import make_guess_task

LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,            -- running | finished | interrupted | failed
    task TEXT NOT NULL,
    config_json TEXT NOT NULL,
    summary_json TEXT
);
CREATE TABLE IF NOT EXISTS searches (
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
);
CREATE TABLE IF NOT EXISTS llm_calls (
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
);
CREATE TABLE IF NOT EXISTS hypotheses (
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
);
CREATE TABLE IF NOT EXISTS verdicts (
    problem_key TEXT NOT NULL,
    hypothesis_id TEXT NOT NULL,
    verifier TEXT NOT NULL,
    version TEXT NOT NULL,
    created REAL NOT NULL,
    verdict_json TEXT NOT NULL,
    PRIMARY KEY (problem_key, hypothesis_id, verifier, version)
);
CREATE TABLE IF NOT EXISTS iterations (
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
);
"""

RUN_ID = "20240101-120000-a1b2c3"
OPEN, DONE = "example/guess#0", "example/guess#1"  # the killed search and the finished one
#: what that release's `RunConfig.model_dump_json()` stored (its budget keys predate today's names)
CONFIG_JSON = (
    '{"task":"example/guess","problems":"0-1","model":"openai/gpt-test","base_url":"http://127.0.0.1:9/v1",'
    '"strategy":"refine","samples":1,"top_k":1,"temperature":0.8,"completion_tokens":1024,"seed":7,'
    '"budget":{"max_iterations":5,"max_calls":null,"max_tokens":null,"max_cost_usd":null,'
    '"max_seconds":null,"target_score":0.0,"patience":null,"min_delta":0.0},"request_timeout_s":120.0,'
    '"max_retries":4,"model_concurrency":8,"verify_concurrency":4,"verify_retries":2}'
)
MESSAGES_JSON = '[{"role": "user", "content": "Guess secret integer #0, between 0 and 100."}]'
PARAMS_JSON = '{"temperature": 0.8, "max_tokens": 1024, "seed": 7001000}'
FAIL_50 = (
    '{"status":"fail","score":-13.0,"metrics":{},"feedback":"50 is too high","artifacts":{},'
    '"duration_s":0.01}'
)
OK_37 = '{"status":"ok","score":0.0,"metrics":{},"feedback":"correct","artifacts":{},"duration_s":0.01}'
OK_5 = '{"status":"ok","score":0.0,"metrics":{},"feedback":"correct","artifacts":{},"duration_s":0.02}'
HELD_5 = (
    '{"status":"ok","score":1.0,"metrics":{},"feedback":"HELD-OUT-SECRET-MARKER","artifacts":{},'
    '"duration_s":0.0}'
)
ID_50, ID_37, ID_5 = content_id("50"), content_id("37"), content_id("5")


def search_version(index: int, secret: int) -> str:
    """The key under which example/guess's search verifier caches its verdicts."""
    return make_guess_task(index, secret).verifier.version


def write_legacy_store(path: Path) -> None:
    """Create `path` as that release's `Store` would have left it (WAL, `user_version` never set)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(LEGACY_SCHEMA)
        _insert_rows(db)
    finally:
        db.close()


def _insert_rows(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO runs VALUES (?, ?, ?, 'running', 'example/guess', ?, NULL)",
        (RUN_ID, 1704110400.0, 1704110460.0, CONFIG_JSON),
    )
    db.executemany(
        "INSERT INTO searches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (RUN_ID, DONE, 0, "finished", "target_reached", "best score 0 reached the target 0", 1.5,
             ID_5, 0.0, "ok", HELD_5),
            (RUN_ID, OPEN, 1, "running", None, None, 2.5, None, None, None, None),
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO llm_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (RUN_ID, DONE, 1, 0, 1704110401.0, MESSAGES_JSON, PARAMS_JSON, 1, "ANSWER: 5", None,
             "gpt-test", 12, 3, None, 0.2, "stop"),
            (RUN_ID, OPEN, 1, 0, 1704110410.0, MESSAGES_JSON, PARAMS_JSON, 1, "My guess.\nANSWER: 50", None,
             "gpt-test", 10, 5, 0.001, 0.3, "stop"),
            (RUN_ID, OPEN, 1, 1, 1704110411.0, MESSAGES_JSON, PARAMS_JSON, 0, None, "HTTP 500: gave up",
             None, 0, 0, None, None, None),
            (RUN_ID, OPEN, 2, 0, 1704110420.0, MESSAGES_JSON, PARAMS_JSON, 1, "ANSWER: 37", None,
             "gpt-test", 11, 4, 0.002, 0.25, "stop"),
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO hypotheses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (RUN_ID, DONE, 1, 0, ID_5, "5", "[]", "gpt-test", '{"finish_reason": "stop"}', "ok", 0.0, OK_5),
            (RUN_ID, OPEN, 1, 0, ID_50, "50", "[]", "gpt-test", '{"finish_reason": "stop"}', "fail", -13.0,
             FAIL_50),
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?)",
        [
            (DONE, ID_5, "search:guess", search_version(1, 5), 1704110402.0, OK_5),
            (DONE, ID_5, "held_out:guess-exact", "v-held", 1704110403.0, HELD_5),
            (OPEN, ID_50, "search:guess", search_version(0, 37), 1704110412.0, FAIL_50),
            (OPEN, ID_37, "search:guess", search_version(0, 37), 1704110421.0, OK_37),
        ],
    )
    db.executemany(
        "INSERT INTO iterations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (RUN_ID, DONE, 1, 0.0, 0.0, 1, 15, 0.0, 1.5),
            (RUN_ID, OPEN, 1, -13.0, -13.0, 2, 15, 0.001, 2.5),
        ],
    )
