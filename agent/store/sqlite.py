"""The run store: one SQLite file (WAL) that records a run as it happens.

Every LLM request/response, hypothesis and verdict is committed the moment it exists, so a run killed with
`kill -9` loses at most the work that was in flight. `assay resume` replays the recorded completions
instead of calling the model again and finds finished verdicts in the verdict cache, keyed by
(problem, hypothesis id, verifier name, verifier version), so nothing finished is redone.

Readers get typed, frozen records (`agent.store.records`), never a `sqlite3.Row`; the schema and its
versions are in `agent.store.migrations`, applied when a file is opened.
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
from agent.store.migrations import check_not_newer, migrate, schema_version
from agent.store.records import (
    CachedVerdictRecord,
    CallRecord,
    IterationRecord,
    RunRecord,
    SearchRecord,
    cached_verdict_from_row,
    call_from_row,
    hypothesis_from_row,
    iteration_from_row,
    run_from_row,
    search_from_row,
)


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
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open run store {self.path}: {e}") from None
        try:
            # refuse a newer file before touching it (switching to WAL would already write to it)
            check_not_newer(schema_version(self._db), self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db, self.path)
        except sqlite3.Error as e:
            self._db.close()
            raise StoreError(f"cannot open run store {self.path}: {e}") from None
        except BaseException:
            self._db.close()
            raise
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
    def create_run(
        self, task: str, config_json: str, run_id: str | None = None, *, task_module: str | None = None
    ) -> str:
        """`task_module`: the module that registered `task`, so a resume can import a plugin task again."""
        run_id = run_id or new_run_id()
        now = time.time()
        self._write(
            "INSERT INTO runs (id, created, updated, status, task, config_json, task_module)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?)",
            (run_id, now, now, task, config_json, task_module),
        )
        return run_id

    def set_run_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        self._write(
            "UPDATE runs SET status = ?, updated = ?, summary_json = COALESCE(?, summary_json) WHERE id = ?",
            (status, time.time(), None if summary is None else json.dumps(summary), run_id),
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or the only one whose id starts with it (as git does); else None.

        The prefix is compared literally (`substr`, not `LIKE`, where `_` and `%` are wildcards).
        """
        rows = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
        if not rows and run_id:
            rows = self._db.execute(
                "SELECT * FROM runs WHERE substr(id, 1, ?) = ? LIMIT 2", (len(run_id), run_id)
            ).fetchall()
        return run_from_row(rows[0]) if len(rows) == 1 else None

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [run_from_row(row) for row in rows]

    # -- searches (one per problem) ---------------------------------------------------------------------
    def start_search(self, run_id: str, problem_key: str, position: int) -> None:
        self._write(
            "INSERT OR IGNORE INTO searches (run_id, problem_key, position, status)"
            " VALUES (?, ?, ?, 'running')",
            (run_id, problem_key, position),
        )

    def get_search(self, run_id: str, problem_key: str) -> SearchRecord | None:
        row = self._db.execute(
            "SELECT * FROM searches WHERE run_id = ? AND problem_key = ?", (run_id, problem_key)
        ).fetchone()
        return search_from_row(row) if row is not None else None

    def searches(self, run_id: str) -> list[SearchRecord]:
        rows = self._db.execute(
            "SELECT * FROM searches WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()
        return [search_from_row(row) for row in rows]

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
        return {call.sample: call.recorded() for call in map(call_from_row, rows)}

    def calls(self, run_id: str, problem_key: str | None = None) -> list[CallRecord]:
        sql = "SELECT * FROM llm_calls WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if problem_key is not None:
            sql += " AND problem_key = ?"
            params += (problem_key,)
        rows = self._db.execute(sql + " ORDER BY iteration, sample", params).fetchall()
        return [call_from_row(row) for row in rows]

    def spend(self, run_id: str, problem_key: str) -> Spend:
        row = self._db.execute(
            """SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens,
                      COALESCE(SUM(cost_usd), 0.0) AS cost
               FROM llm_calls WHERE run_id = ? AND problem_key = ?""",
            (run_id, problem_key),
        ).fetchone()
        calls, tokens, cost = row
        return Spend(calls, tokens, cost)

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
        return [hypothesis_from_row(row) for row in rows]

    def cached_verdict(
        self, problem_key: str, hypothesis_id: str, verifier: str, version: str
    ) -> Verdict | None:
        row = self._db.execute(
            """SELECT * FROM verdicts
               WHERE problem_key = ? AND hypothesis_id = ? AND verifier = ? AND version = ?""",
            (problem_key, hypothesis_id, verifier, version),
        ).fetchone()
        return cached_verdict_from_row(row).verdict if row is not None else None

    def cache_verdict(
        self, problem_key: str, hypothesis_id: str, verifier: str, version: str, verdict: Verdict
    ) -> None:
        self._write(
            """INSERT OR REPLACE INTO verdicts (problem_key, hypothesis_id, verifier, version, created,
                   verdict_json) VALUES (?, ?, ?, ?, ?, ?)""",
            (problem_key, hypothesis_id, verifier, version, time.time(), verdict.model_dump_json()),
        )

    def cached_verdicts(self, problem_key: str) -> list[CachedVerdictRecord]:
        """Every cached verdict of a problem, oldest first, whichever run produced it."""
        rows = self._db.execute(
            "SELECT * FROM verdicts WHERE problem_key = ? ORDER BY created", (problem_key,)
        ).fetchall()
        return [cached_verdict_from_row(row) for row in rows]

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

    def iterations(self, run_id: str, problem_key: str) -> list[IterationRecord]:
        rows = self._db.execute(
            "SELECT * FROM iterations WHERE run_id = ? AND problem_key = ? ORDER BY iteration",
            (run_id, problem_key),
        ).fetchall()
        return [iteration_from_row(row) for row in rows]

    def iter_runs(self) -> Iterator[RunRecord]:
        """Every run, oldest first, read lazily (for tools that walk a large store)."""
        for row in self._db.execute("SELECT * FROM runs ORDER BY created"):
            yield run_from_row(row)
