"""The rows of the run store as typed, frozen values: what `Store` returns instead of `sqlite3.Row`.

A `sqlite3.Row` ties every reader to column names and to JSON-in-TEXT conventions, and breaks silently when
a migration renames or adds a column. These records are parsed once, here, next to the schema they mirror:
JSON columns come back as dicts, verdict columns as `Verdict`, enum columns as their enums.

A row is read as untrusted: SQLite keeps any value in any column, a file may have been edited by hand or
written by an earlier release (which stored NaN as null), and one bad row must not take down `assay show`,
`runs` or `resume`. Each column is checked for its type; a bad value that has an honest fallback (None for
an optional field, "no summary") is replaced and *noted*; a row whose identity or verdict cannot be read
raises `UnreadableRow`, and the store skips it with a note. They belong to the
store (they describe its tables); what strategies, prompts and budgets consume is in `agent.kernel.records`
(`RecordedHypothesis`, `RecordedCall`, `Spend`), which depends on nothing of the store.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import ValidationError

from agent.kernel.records import RecordedCall, RecordedHypothesis, Spend
from agent.kernel.types import Completion, Hypothesis, Message, StopReason, Usage, Verdict, VerdictStatus


@dataclass(frozen=True)
class RunRecord:
    """One `assay run`: its stored configuration, status and (once finished) its summary."""

    id: str
    created: float
    updated: float
    status: str  # running | finished | interrupted | failed
    task: str
    config_json: str  # validated by the run layer (`RunConfig`), which the store must not import
    summary: dict[str, Any] | None
    task_module: str | None  # the module that registered `task`; None for runs recorded before schema 2

    @property
    def config(self) -> dict[str, Any]:
        """The stored configuration as plain JSON data, for readers that only display it ({} when it is
        unreadable: the reader of the row has noted that)."""
        try:
            value = json.loads(self.config_json)
        except (ValueError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class SearchRecord:
    """The search of one problem within a run; the stop fields are set once it has finished."""

    run_id: str
    problem_key: str
    position: int
    status: str  # running | finished
    stop_reason: StopReason | None
    stop_detail: str | None
    elapsed_s: float
    best_hypothesis_id: str | None
    best_score: float | None
    best_status: VerdictStatus | None
    held_out: Verdict | None

    @property
    def finished(self) -> bool:
        return self.status == "finished"


@dataclass(frozen=True)
class CallRecord:
    """One model request and what came back (a completion, or the error that ended its retries)."""

    run_id: str
    problem_key: str
    iteration: int
    sample: int
    created: float
    messages: tuple[Message, ...]
    params: dict[str, Any]
    ok: bool
    response_text: str | None
    error: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_s: float | None
    finish_reason: str | None

    def recorded(self) -> RecordedCall:
        """The call as the search replays it on resume (the store-independent kernel value)."""
        if not self.ok:
            return RecordedCall(False, None, self.error)
        completion = Completion(
            text=self.response_text or "",
            model=self.model or "",
            usage=Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens),
            cost_usd=self.cost_usd,
            finish_reason=self.finish_reason,
            latency_s=self.latency_s or 0.0,
        )
        return RecordedCall(True, completion, None)


@dataclass(frozen=True)
class IterationRecord:
    """One finished iteration of a search: the score history and the spend so far."""

    run_id: str
    problem_key: str
    iteration: int
    best_score: float | None
    iteration_best: float | None
    calls: int
    tokens: int
    cost_usd: float
    elapsed_s: float

    @property
    def spend(self) -> Spend:
        return Spend(self.calls, self.tokens, self.cost_usd)


@dataclass(frozen=True)
class CachedVerdictRecord:
    """An entry of the verdict cache, shared by every run that meets the same problem and candidate."""

    problem_key: str
    hypothesis_id: str
    verifier: str
    version: str
    created: float
    verdict: Verdict
    #: the identity of the sandbox the verdict was produced in ("none": no sandbox; "": recorded before
    #: identities were, so never reused by a task that runs candidate code)
    sandbox: str = ""


# -- from rows ---------------------------------------------------------------------------------------------
# The only place that indexes rows by column name; `Store` hands these functions rows of `SELECT *`.

#: receives one line for each value that could not be read as stored and was replaced
Note = Callable[[str], None]
E = TypeVar("E", bound=Enum)
_REQUIRED: Any = object()
#: what one bad value of a note shows of itself
_SHOWN_CHARS = 40


class UnreadableRow(ValueError):
    """A row that cannot be read as a record (its identity or its verdict is unreadable); skipped."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def first_error(e: ValidationError) -> str:
    """The first complaint of a validation error, in one short line."""
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def parse_verdict(text: object) -> Verdict:
    """A stored verdict. Earlier releases wrote NaN and the infinities of metrics as null: those read back
    as NaN (see `Verdict`), so a verdict that was once written is always read again."""
    if not isinstance(text, str):
        raise UnreadableRow(f"is {_shown(text)}, not a verdict")
    try:
        return Verdict.model_validate_json(text)
    except ValidationError:
        pass
    try:  # Python's reader also takes what the strict one refuses (NaN literals, lone surrogates)
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise UnreadableRow("is not valid JSON") from None
    try:
        return Verdict.model_validate(data)
    except ValidationError as e:
        raise UnreadableRow(f"is not a verdict ({first_error(e)})") from None


class _Fields:
    """One row's columns, each checked for its type. A bad value with a fallback is noted and replaced;
    one without raises `UnreadableRow`."""

    def __init__(self, row: sqlite3.Row, table: str, keys: tuple[str, ...], note: Note) -> None:
        self.row, self.note = row, note
        self.where = f"{table} row ({', '.join(_shown(self._raw(k)) for k in keys)})"

    def _raw(self, col: str) -> object:
        try:
            return self.row[col]
        except (IndexError, KeyError):
            return None  # a column that is missing reads as a missing value

    def _bad(self, col: str, value: object, what: str, default: Any) -> Any:
        if default is _REQUIRED:
            raise UnreadableRow(f"{col} is {_shown(value)}, not {what}")
        self.note(f"{self.where}: {col} is {_shown(value)}, not {what}; read as {default!r}")
        return default

    def text(self, col: str, default: Any = _REQUIRED) -> Any:
        value = self._raw(col)
        return value if isinstance(value, str) else self._bad(col, value, "text", default)

    def opt_text(self, col: str) -> str | None:
        value = self._raw(col)
        return value if value is None or isinstance(value, str) else self._bad(col, value, "text", None)

    def integer(self, col: str, default: Any = _REQUIRED) -> Any:
        value = self._raw(col)
        return value if type(value) is int else self._bad(col, value, "an integer", default)

    def number(self, col: str, default: Any = _REQUIRED, *, optional: bool = False) -> Any:
        value = self._raw(col)
        if value is None and optional:
            return None
        if type(value) in (int, float) and math.isfinite(value):  # type: ignore[arg-type]
            return float(value)  # type: ignore[arg-type]
        return self._bad(col, value, "a finite number", None if optional else default)

    def json(self, col: str, kind: type, default: Any = _REQUIRED, *, optional: bool = False) -> Any:
        value = self._raw(col)
        if value is None and optional:
            return None
        try:
            data = json.loads(value) if isinstance(value, str) else None
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, kind):
            return data
        return self._bad(col, value, f"a JSON {kind.__name__}", None if optional else default)

    def enum(self, cls: type[E], col: str) -> E | None:
        value = self._raw(col)
        if value is None or value == "":
            return None
        try:
            return cls(value)
        except ValueError:
            return self._bad(col, value, f"a {cls.__name__}", None)  # type: ignore[no-any-return]

    def verdict(self, col: str, *, optional: bool = False) -> Verdict | None:
        value = self._raw(col)
        if value is None and optional:
            return None
        try:
            return parse_verdict(value)
        except UnreadableRow as e:
            if not optional:
                raise UnreadableRow(f"{col} {e}") from None
            self.note(f"{self.where}: {col} {e}; read as None")
            return None


def run_from_row(row: sqlite3.Row, note: Note) -> RunRecord:
    f = _Fields(row, "runs", ("id",), note)
    config_json = f.text("config_json", "{}")
    try:
        readable = isinstance(json.loads(config_json), dict)
    except (ValueError, RecursionError):
        readable = False
    if not readable:
        note(f"{f.where}: config_json is {_shown(config_json)}, not a JSON object; the run cannot be resumed")
    return RunRecord(
        id=f.text("id"),
        created=f.number("created", 0.0),
        updated=f.number("updated", 0.0),
        status=f.text("status", "unknown"),
        task=f.text("task", "?"),
        config_json=config_json,
        summary=f.json("summary_json", dict, optional=True),
        task_module=f.opt_text("task_module"),
    )


def search_from_row(row: sqlite3.Row, note: Note) -> SearchRecord:
    f = _Fields(row, "searches", ("run_id", "problem_key"), note)
    return SearchRecord(
        run_id=f.text("run_id"),
        problem_key=f.text("problem_key"),
        position=f.integer("position", 0),
        status=f.text("status", "running"),
        stop_reason=f.enum(StopReason, "stop_reason"),
        stop_detail=f.opt_text("stop_detail"),
        elapsed_s=f.number("elapsed_s", 0.0),
        best_hypothesis_id=f.opt_text("best_hypothesis_id"),
        best_score=f.number("best_score", optional=True),
        best_status=f.enum(VerdictStatus, "best_status"),
        held_out=f.verdict("held_out_json", optional=True),
    )


def _messages(value: list[Any]) -> tuple[Message, ...]:
    try:
        return tuple(Message.model_validate(m) for m in value)
    except ValidationError as e:
        raise UnreadableRow(f"messages_json holds no messages ({first_error(e)})") from None


def call_from_row(row: sqlite3.Row, note: Note) -> CallRecord:
    f = _Fields(row, "llm_calls", ("run_id", "problem_key", "iteration", "sample"), note)
    return CallRecord(
        run_id=f.text("run_id"),
        problem_key=f.text("problem_key"),
        iteration=f.integer("iteration"),
        sample=f.integer("sample"),
        created=f.number("created", 0.0),
        messages=_messages(f.json("messages_json", list)),
        params=f.json("params_json", dict, {}),
        ok=f.integer("ok") != 0,
        response_text=f.opt_text("response_text"),
        error=f.opt_text("error"),
        model=f.opt_text("model"),
        prompt_tokens=f.integer("prompt_tokens", 0),
        completion_tokens=f.integer("completion_tokens", 0),
        cost_usd=f.number("cost_usd", optional=True),
        latency_s=f.number("latency_s", optional=True),
        finish_reason=f.opt_text("finish_reason"),
    )


def hypothesis_from_row(row: sqlite3.Row, note: Note) -> RecordedHypothesis:
    f = _Fields(row, "hypotheses", ("run_id", "problem_key", "iteration", "sample"), note)
    parents = f.json("parent_ids_json", list, [])
    try:
        hypothesis = Hypothesis(
            id=f.text("id"),
            content=f.text("content"),
            parent_ids=tuple(p for p in parents if isinstance(p, str)),
            iteration=f.integer("iteration"),
            model=f.text("model", ""),
            meta=f.json("meta_json", dict, {}),
        )
    except ValidationError as e:
        raise UnreadableRow(f"is not a hypothesis ({first_error(e)})") from None
    verdict = f.verdict("verdict_json")
    assert verdict is not None
    return RecordedHypothesis(f.integer("sample"), hypothesis, verdict)


def iteration_from_row(row: sqlite3.Row, note: Note) -> IterationRecord:
    f = _Fields(row, "iterations", ("run_id", "problem_key", "iteration"), note)
    return IterationRecord(
        run_id=f.text("run_id"),
        problem_key=f.text("problem_key"),
        iteration=f.integer("iteration"),
        best_score=f.number("best_score", optional=True),
        iteration_best=f.number("iteration_best", optional=True),
        calls=f.integer("calls", 0),
        tokens=f.integer("tokens", 0),
        cost_usd=f.number("cost_usd", 0.0),
        elapsed_s=f.number("elapsed_s", 0.0),
    )


def cached_verdict_from_row(row: sqlite3.Row, note: Note) -> CachedVerdictRecord:
    f = _Fields(row, "verdicts", ("problem_key", "hypothesis_id", "verifier"), note)
    verdict = f.verdict("verdict_json")
    assert verdict is not None
    return CachedVerdictRecord(
        problem_key=f.text("problem_key"),
        hypothesis_id=f.text("hypothesis_id"),
        verifier=f.text("verifier"),
        version=f.text("version"),
        created=f.number("created", 0.0),
        verdict=verdict,
        sandbox=f.text("sandbox", ""),
    )
