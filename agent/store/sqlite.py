"""The run store: one SQLite file (WAL) that records a run as it happens.

Every LLM request/response, hypothesis and verdict is committed the moment it exists, so a run killed with
`kill -9` loses at most the work that was in flight. `assay resume` replays the recorded completions
instead of calling the model again and finds finished verdicts in the verdict cache, keyed by
(problem, hypothesis id, verifier name, verifier version), so nothing finished is redone.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.kernel.errors import StoreError
from agent.kernel.records import RecordedCall, RecordedHypothesis, Spend
from agent.kernel.types import Completion, Hypothesis, Message, Usage, Verdict

SCHEMA = """
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


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class Store:
    """All persistence of assay. Used from one thread (the event loop's); each write is its own commit."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open run store {self.path}: {e}") from None
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to run store {self.path}: {e}") from None

    # -- runs -------------------------------------------------------------------------------------------
    def create_run(self, task: str, config_json: str, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        now = time.time()
        self._write(
            "INSERT INTO runs (id, created, updated, status, task, config_json)"
            " VALUES (?, ?, ?, 'running', ?, ?)",
            (run_id, now, now, task, config_json),
        )
        return run_id

    def set_run_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        self._write(
            "UPDATE runs SET status = ?, updated = ?, summary_json = COALESCE(?, summary_json) WHERE id = ?",
            (status, time.time(), None if summary is None else json.dumps(summary), run_id),
        )

    def get_run(self, run_id: str) -> sqlite3.Row | None:
        rows = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
        if not rows:  # allow a unique prefix, as git does
            rows = self._db.execute(
                "SELECT * FROM runs WHERE id LIKE ? ORDER BY created", (run_id.replace("%", "") + "%",)
            ).fetchall()
        return rows[0] if len(rows) == 1 else None

    def list_runs(self, limit: int = 50) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()

    # -- searches (one per problem) ---------------------------------------------------------------------
    def start_search(self, run_id: str, problem_key: str, position: int) -> None:
        self._write(
            "INSERT OR IGNORE INTO searches (run_id, problem_key, position, status)"
            " VALUES (?, ?, ?, 'running')",
            (run_id, problem_key, position),
        )

    def get_search(self, run_id: str, problem_key: str) -> sqlite3.Row | None:
        return self._db.execute(
            "SELECT * FROM searches WHERE run_id = ? AND problem_key = ?", (run_id, problem_key)
        ).fetchone()

    def searches(self, run_id: str) -> list[sqlite3.Row]:
        return self._db.execute(
            "SELECT * FROM searches WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()

    def set_search_elapsed(self, run_id: str, problem_key: str, elapsed_s: float) -> None:
        self._write(
            "UPDATE searches SET elapsed_s = ? WHERE run_id = ? AND problem_key = ?",
            (elapsed_s, run_id, problem_key),
        )

    def finish_search(
        self,
        run_id: str,
        problem_key: str,
        *,
        stop_reason: str,
        stop_detail: str,
        elapsed_s: float,
        best: RecordedHypothesis | None,
        held_out: Verdict | None,
    ) -> None:
        self._write(
            """UPDATE searches SET status = 'finished', stop_reason = ?, stop_detail = ?, elapsed_s = ?,
                   best_hypothesis_id = ?, best_score = ?, best_status = ?, held_out_json = ?
               WHERE run_id = ? AND problem_key = ?""",
            (
                stop_reason,
                stop_detail,
                elapsed_s,
                best.hypothesis.id if best else None,
                best.verdict.score if best else None,
                best.verdict.status.value if best else None,
                held_out.model_dump_json() if held_out else None,
                run_id,
                problem_key,
            ),
        )

    # -- LLM calls --------------------------------------------------------------------------------------
    def record_call(
        self,
        run_id: str,
        problem_key: str,
        iteration: int,
        sample: int,
        messages: list[Message],
        params: dict[str, Any],
        completion: Completion | None,
        error: str | None,
    ) -> None:
        usage = completion.usage if completion else Usage()
        self._write(
            """INSERT OR REPLACE INTO llm_calls (run_id, problem_key, iteration, sample, created,
                   messages_json, params_json, ok, response_text, error, model, prompt_tokens,
                   completion_tokens, cost_usd, latency_s, finish_reason)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                run_id,
                problem_key,
                iteration,
                sample,
                time.time(),
                json.dumps([m.model_dump() for m in messages]),
                json.dumps(params),
                int(completion is not None),
                completion.text if completion else None,
                error,
                completion.model if completion else None,
                usage.prompt_tokens,
                usage.completion_tokens,
                completion.cost_usd if completion else None,
                completion.latency_s if completion else None,
                completion.finish_reason if completion else None,
            ),
        )

    def recorded_calls(self, run_id: str, problem_key: str, iteration: int) -> dict[int, RecordedCall]:
        rows = self._db.execute(
            "SELECT * FROM llm_calls WHERE run_id = ? AND problem_key = ? AND iteration = ?",
            (run_id, problem_key, iteration),
        ).fetchall()
        return {row["sample"]: _row_to_call(row) for row in rows}

    def calls(self, run_id: str, problem_key: str | None = None) -> list[sqlite3.Row]:
        sql = "SELECT * FROM llm_calls WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if problem_key is not None:
            sql += " AND problem_key = ?"
            params += (problem_key,)
        return self._db.execute(sql + " ORDER BY iteration, sample", params).fetchall()

    def spend(self, run_id: str, problem_key: str) -> Spend:
        row = self._db.execute(
            """SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens,
                      COALESCE(SUM(cost_usd), 0.0) AS cost
               FROM llm_calls WHERE run_id = ? AND problem_key = ?""",
            (run_id, problem_key),
        ).fetchone()
        return Spend(row["calls"], row["tokens"], row["cost"])

    # -- hypotheses and verdicts ------------------------------------------------------------------------
    def record_hypothesis(
        self, run_id: str, problem_key: str, sample: int, hypothesis: Hypothesis, verdict: Verdict
    ) -> None:
        self._write(
            """INSERT OR REPLACE INTO hypotheses (run_id, problem_key, iteration, sample, id, content,
                   parent_ids_json, model, meta_json, status, score, verdict_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                run_id,
                problem_key,
                hypothesis.iteration,
                sample,
                hypothesis.id,
                hypothesis.content,
                json.dumps(list(hypothesis.parent_ids)),
                hypothesis.model,
                json.dumps(hypothesis.meta, default=str),
                verdict.status.value,
                verdict.score,
                verdict.model_dump_json(),
            ),
        )

    def hypotheses(self, run_id: str, problem_key: str) -> list[RecordedHypothesis]:
        rows = self._db.execute(
            "SELECT * FROM hypotheses WHERE run_id = ? AND problem_key = ? ORDER BY iteration, sample",
            (run_id, problem_key),
        ).fetchall()
        return [_row_to_hypothesis(row) for row in rows]

    def cached_verdict(
        self, problem_key: str, hypothesis_id: str, verifier: str, version: str
    ) -> Verdict | None:
        row = self._db.execute(
            """SELECT verdict_json FROM verdicts
               WHERE problem_key = ? AND hypothesis_id = ? AND verifier = ? AND version = ?""",
            (problem_key, hypothesis_id, verifier, version),
        ).fetchone()
        return Verdict.model_validate_json(row["verdict_json"]) if row else None

    def cache_verdict(
        self, problem_key: str, hypothesis_id: str, verifier: str, version: str, verdict: Verdict
    ) -> None:
        self._write(
            """INSERT OR REPLACE INTO verdicts (problem_key, hypothesis_id, verifier, version, created,
                   verdict_json) VALUES (?, ?, ?, ?, ?, ?)""",
            (problem_key, hypothesis_id, verifier, version, time.time(), verdict.model_dump_json()),
        )

    def verdict_rows(self, problem_key: str) -> list[sqlite3.Row]:
        return self._db.execute(
            "SELECT * FROM verdicts WHERE problem_key = ? ORDER BY created", (problem_key,)
        ).fetchall()

    # -- iterations (score history) ---------------------------------------------------------------------
    def record_iteration(
        self,
        run_id: str,
        problem_key: str,
        iteration: int,
        best_score: float | None,
        iteration_best: float | None,
        spend: Spend,
        elapsed_s: float,
    ) -> None:
        self._write(
            """INSERT OR REPLACE INTO iterations (run_id, problem_key, iteration, best_score, iteration_best,
                   calls, tokens, cost_usd, elapsed_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                run_id,
                problem_key,
                iteration,
                best_score,
                iteration_best,
                spend.calls,
                spend.tokens,
                spend.cost_usd,
                elapsed_s,
            ),
        )

    def iterations(self, run_id: str, problem_key: str) -> list[sqlite3.Row]:
        return self._db.execute(
            "SELECT * FROM iterations WHERE run_id = ? AND problem_key = ? ORDER BY iteration",
            (run_id, problem_key),
        ).fetchall()

    def iter_runs(self) -> Iterator[sqlite3.Row]:
        yield from self._db.execute("SELECT * FROM runs ORDER BY created")


def _row_to_call(row: sqlite3.Row) -> RecordedCall:
    if not row["ok"]:
        return RecordedCall(False, None, row["error"])
    completion = Completion(
        text=row["response_text"],
        model=row["model"] or "",
        usage=Usage(prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"]),
        cost_usd=row["cost_usd"],
        finish_reason=row["finish_reason"],
        latency_s=row["latency_s"] or 0.0,
    )
    return RecordedCall(True, completion, None)


def _row_to_hypothesis(row: sqlite3.Row) -> RecordedHypothesis:
    hypothesis = Hypothesis(
        id=row["id"],
        content=row["content"],
        parent_ids=tuple(json.loads(row["parent_ids_json"])),
        iteration=row["iteration"],
        model=row["model"],
        meta=json.loads(row["meta_json"]),
    )
    return RecordedHypothesis(row["sample"], hypothesis, Verdict.model_validate_json(row["verdict_json"]))
