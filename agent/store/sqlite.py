"""The run store: one SQLite file (WAL) that records a run as it happens.

Every LLM request/response, hypothesis and verdict is committed the moment it exists, so a run killed with
`kill -9` loses at most the work that was in flight. `assay resume` replays the recorded completions
instead of calling the model again and finds finished verdicts in the verdict cache, keyed by
(problem, hypothesis id, verifier name, verifier version, sandbox identity), so nothing finished is redone
and nothing judged on one sandbox backend is reused on another.

Readers get typed, frozen records (`agent.store.records`), never a `sqlite3.Row`; the schema and its
versions are in `agent.store.migrations`, applied when a file is opened.

What is written is checked first (verdicts are re-validated: finite scores, bounded fields; text is valid
UTF-8; JSON is strict), and what is read is read as untrusted: a row that cannot be parsed is skipped, a
value that cannot is replaced, and either is said once in `notes`, so one bad row never takes down a
command or a resumed run.
"""

from __future__ import annotations

import math
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from agent.kernel.errors import StoreError
from agent.kernel.records import RecordedCall, RecordedHypothesis, Spend
from agent.kernel.types import (
    Completion,
    Hypothesis,
    Message,
    Usage,
    Verdict,
)
from agent.store.commits import CommitGroups
from agent.store.connect import DiskFullError, connect_read_only, connect_writable, is_disk_full
from agent.store.encoding import bindable, strict_json, verdict_json
from agent.store.records import (
    CachedVerdictRecord,
    CallRecord,
    IterationRecord,
    Note,
    RunRecord,
    SearchRecord,
    UnreadableRow,
    cached_verdict_from_row,
    call_from_row,
    hypothesis_from_row,
    iteration_from_row,
    run_from_row,
    search_from_row,
)

R = TypeVar("R")
#: the sandbox identity of a task that runs no candidate code
NO_SANDBOX = "none"
#: the identity of verdicts cached before identities were recorded (schema < 3)
UNKNOWN_SANDBOX = ""
#: what goes wrong parsing a row, beyond `UnreadableRow` (a defect of the reader must not end a command)
_ROW_ERRORS = (UnreadableRow, ValueError, TypeError, KeyError, IndexError, RecursionError, OverflowError)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class Store(CommitGroups):
    """All persistence of assay. Used from one thread (the event loop's); each write is its own commit
    unless group commits are on (`group_commits`, which the pipelined loop turns on)."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        """`read_only`: for commands that only read (`runs`, `show`): nothing is created, migrated or
        switched to WAL, so a store on a read-only filesystem (or someone else's file) can still be read."""
        self.path = Path(path)
        self.read_only = read_only
        if read_only:
            self._db = connect_read_only(self.path)
        else:
            self._db = connect_writable(path, self.path)
        self._db.row_factory = sqlite3.Row
        self._notes: dict[str, None] = {}  # insertion-ordered and deduplicated: a row is read many times
        self._group_s = 0.0  # group commits (see `group_commits`); 0: every write is its own commit
        self._group_began = 0.0
        self._together = False  # inside `together()`: no commit until it ends
        #: the messages of the last call recorded and their JSON: the samples of one prompt share its
        #: messages, so with n per request 32 call rows write one encoding (issue 16)
        self._last_messages: tuple[tuple[Message, ...], str] = ((), "[]")
        #: the last verdict written and its JSON: a verified candidate's verdict is written twice, to the
        #: verdict cache and with its hypothesis, and a frozen verdict encodes the same both times
        self._last_verdict: tuple[Verdict | None, str] = (None, "")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """A query's rows; a damaged file (random bytes in a page) is one StoreError, not a traceback."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read run store {self.path}: {e}") from None

    def _row(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- reading untrusted rows -------------------------------------------------------------------------
    @property
    def notes(self) -> list[str]:
        """One line for each row skipped and each value replaced while reading, oldest first."""
        return list(self._notes)

    def note(self, message: str) -> None:
        self._notes.setdefault(" ".join(message.split()), None)

    def _parse(self, rows: Iterable[sqlite3.Row], parse: Callable[[sqlite3.Row, Note], R]) -> list[R]:
        """Every row that can be read; each one that cannot is skipped with a note."""
        out = []
        for row in rows:
            record = self._parse_one(row, parse)
            if record is not None:
                out.append(record)
        return out

    def _parse_one(self, row: sqlite3.Row, parse: Callable[[sqlite3.Row, Note], R]) -> R | None:
        try:
            return parse(row, self.note)
        except _ROW_ERRORS as e:
            table = parse.__name__.removesuffix("_from_row")
            key = ", ".join(repr(row[k])[:40] for k in row.keys()[:4])
            self.note(f"skipped an unreadable {table} row ({key}): {e}")
            return None

    def close(self) -> None:
        self.flush()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            if (self._group_s or self._together) and not self._db.in_transaction:
                self._db.execute("BEGIN")
                self._group_began = time.monotonic()
            self._db.execute(sql, bindable(params))
            if self._group_s and not self._together:
                self.flush_due()
        except sqlite3.Error as e:
            error = DiskFullError if is_disk_full(e) else StoreError
            raise error(f"cannot write to run store {self.path}: {e}") from None

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
            (status, time.time(), None if summary is None else strict_json(summary), run_id),
        )

    def set_run_config(self, run_id: str, config_json: str) -> None:
        """A resume that changes the run (a larger budget, another --base-url) records what it runs with."""
        self._write(
            "UPDATE runs SET config_json = ?, updated = ? WHERE id = ?", (config_json, time.time(), run_id)
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or the only one whose id starts with it (as git does); else None.

        The prefix is compared literally (`substr`, not `LIKE`, where `_` and `%` are wildcards).
        """
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows and run_id:
            rows = self._rows("SELECT * FROM runs WHERE substr(id, 1, ?) = ? LIMIT 2", (len(run_id), run_id))
        return self._parse_one(rows[0], run_from_row) if len(rows) == 1 else None

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._rows("SELECT * FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        return self._parse(rows, run_from_row)

    # -- searches (one per problem) ---------------------------------------------------------------------
    def start_search(self, run_id: str, problem_key: str, position: int) -> None:
        self._write(
            "INSERT OR IGNORE INTO searches (run_id, problem_key, position, status)"
            " VALUES (?, ?, ?, 'running')",
            (run_id, problem_key, position),
        )

    def get_search(self, run_id: str, problem_key: str) -> SearchRecord | None:
        row = self._row("SELECT * FROM searches WHERE run_id = ? AND problem_key = ?", (run_id, problem_key))
        return self._parse_one(row, search_from_row) if row is not None else None

    def searches(self, run_id: str) -> list[SearchRecord]:
        rows = self._rows("SELECT * FROM searches WHERE run_id = ? ORDER BY position", (run_id,))
        return self._parse(rows, search_from_row)

    def reopen_search(self, run_id: str, problem_key: str) -> None:
        """A finished search that a resumed run's larger budget lets go on is running again."""
        self._write(
            "UPDATE searches SET status = 'running' WHERE run_id = ? AND problem_key = ?",
            (run_id, problem_key),
        )

    def stop_search(self, run_id: str, problem_key: str, *, stop_reason: str, stop_detail: str) -> None:
        """A search that stopped without finishing (the model failed): why, and resumable (not finished)."""
        self._write(
            "UPDATE searches SET status = 'stopped', stop_reason = ?, stop_detail = ?"
            " WHERE run_id = ? AND problem_key = ?",
            (stop_reason, stop_detail, run_id, problem_key),
        )

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
                verdict_json(held_out) if held_out else None,
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
                self._messages_json(messages),
                strict_json(params),
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

    def _messages_json(self, messages: list[Message]) -> str:
        """The messages as JSON, encoded once for consecutive calls of the same (frozen) messages."""
        last, text = self._last_messages
        if len(last) == len(messages) and all(a is b for a, b in zip(last, messages, strict=True)):
            return text
        text = strict_json([m.model_dump() for m in messages])
        self._last_messages = (tuple(messages), text)
        return text

    def _verdict_text(self, verdict: Verdict) -> str:
        """`verdict_json(verdict)`, encoded once for consecutive writes of the same verdict."""
        last, text = self._last_verdict
        if last is not verdict:
            text = verdict_json(verdict)
            self._last_verdict = (verdict, text)
        return text

    def recorded_calls(self, run_id: str, problem_key: str, iteration: int) -> dict[int, RecordedCall]:
        rows = self._rows(
            "SELECT * FROM llm_calls WHERE run_id = ? AND problem_key = ? AND iteration = ?",
            (run_id, problem_key, iteration),
        )
        return {call.sample: call.recorded() for call in self._parse(rows, call_from_row)}

    def calls(self, run_id: str, problem_key: str | None = None) -> list[CallRecord]:
        sql = "SELECT * FROM llm_calls WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if problem_key is not None:
            sql += " AND problem_key = ?"
            params += (problem_key,)
        rows = self._rows(sql + " ORDER BY iteration, sample", params)
        return self._parse(rows, call_from_row)

    def spend(self, run_id: str, problem_key: str) -> Spend:
        row = self._row(
            """SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens,
                      COALESCE(SUM(cost_usd), 0.0) AS cost
               FROM llm_calls WHERE run_id = ? AND problem_key = ?""",
            (run_id, problem_key),
        )
        calls, tokens, cost = row if row is not None else (0, 0, 0.0)
        if type(tokens) is not int or not isinstance(cost, int | float) or not math.isfinite(cost):
            # SQLite sums whatever a hand-edited column holds (text reads as 0, a sum may overflow)
            self.note(f"llm_calls of {problem_key}: the recorded spend is unreadable; counted as 0")
            tokens, cost = tokens if type(tokens) is int else 0, 0.0
        return Spend(calls, tokens, float(cost))

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
                strict_json(list(hypothesis.parent_ids)),
                hypothesis.model,
                strict_json(hypothesis.meta),
                verdict.status.value,
                verdict.score,
                self._verdict_text(verdict),
            ),
        )

    def hypotheses(self, run_id: str, problem_key: str) -> list[RecordedHypothesis]:
        rows = self._rows(
            "SELECT * FROM hypotheses WHERE run_id = ? AND problem_key = ? ORDER BY iteration, sample",
            (run_id, problem_key),
        )
        return self._parse(rows, hypothesis_from_row)

    def hypothesis(
        self, run_id: str, problem_key: str, iteration: int, sample: int
    ) -> RecordedHypothesis | None:
        """One recorded hypothesis with its verdict (the search's archive reads back what a prompt shows)."""
        row = self._row(
            "SELECT * FROM hypotheses WHERE run_id = ? AND problem_key = ? AND iteration = ? AND sample = ?",
            (run_id, problem_key, iteration, sample),
        )
        return None if row is None else self._parse_one(row, hypothesis_from_row)

    def cached_verdict(
        self, problem_key: str, hypothesis_id: str, verifier: str, version: str, *, sandbox: str
    ) -> Verdict | None:
        """The verdict cached for this candidate, verifier and sandbox identity (`NO_SANDBOX` for a task that
        runs no candidate code, which also reuses verdicts cached before identities were recorded: no
        sandbox can have changed those). An unreadable entry is a miss: the candidate is verified again."""
        identities = (sandbox, UNKNOWN_SANDBOX) if sandbox == NO_SANDBOX else (sandbox,)
        rows = self._rows(
            f"""SELECT * FROM verdicts
               WHERE problem_key = ? AND hypothesis_id = ? AND verifier = ? AND version = ?
                 AND sandbox IN ({", ".join("?" * len(identities))})
               ORDER BY sandbox DESC""",
            (problem_key, hypothesis_id, verifier, version, *identities),
        )
        for row in rows:
            record = self._parse_one(row, cached_verdict_from_row)
            if record is not None:
                return record.verdict
        return None

    def cache_verdict(
        self,
        problem_key: str,
        hypothesis_id: str,
        verifier: str,
        version: str,
        verdict: Verdict,
        *,
        sandbox: str,
    ) -> None:
        self._write(
            """INSERT OR REPLACE INTO verdicts (problem_key, hypothesis_id, verifier, version, sandbox,
                   created, verdict_json) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                problem_key,
                hypothesis_id,
                verifier,
                version,
                sandbox,
                time.time(),
                self._verdict_text(verdict),
            ),
        )

    def cached_verdicts(self, problem_key: str) -> list[CachedVerdictRecord]:
        """Every cached verdict of a problem, oldest first, whichever run (and sandbox) produced it."""
        rows = self._rows("SELECT * FROM verdicts WHERE problem_key = ? ORDER BY created", (problem_key,))
        return self._parse(rows, cached_verdict_from_row)

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
        rows = self._rows(
            "SELECT * FROM iterations WHERE run_id = ? AND problem_key = ? ORDER BY iteration",
            (run_id, problem_key),
        )
        return self._parse(rows, iteration_from_row)

    def iter_runs(self) -> Iterator[RunRecord]:
        """Every run, oldest first, read lazily (for tools that walk a large store)."""
        for row in self._rows("SELECT * FROM runs ORDER BY created"):
            record = self._parse_one(row, run_from_row)
            if record is not None:
                yield record
