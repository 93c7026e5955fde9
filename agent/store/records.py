"""The rows of the run store as typed, frozen values: what `Store` returns instead of `sqlite3.Row`.

A `sqlite3.Row` ties every reader to column names and to JSON-in-TEXT conventions, and breaks silently when
a migration renames or adds a column. These records are parsed once, here, next to the schema they mirror:
JSON columns come back as dicts, verdict columns as `Verdict`, enum columns as their enums. They belong to the
store (they describe its tables); what strategies, prompts and budgets consume is in `agent.kernel.records`
(`RecordedHypothesis`, `RecordedCall`, `Spend`), which depends on nothing of the store.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

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
        """The stored configuration as plain JSON data, for readers that only display it."""
        value: dict[str, Any] = json.loads(self.config_json)
        return value


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


# -- from rows ---------------------------------------------------------------------------------------------
# The only place that indexes rows by column name; `Store` hands these functions rows of `SELECT *`.


def run_from_row(row: sqlite3.Row) -> RunRecord:
    summary = row["summary_json"]
    return RunRecord(
        id=row["id"],
        created=row["created"],
        updated=row["updated"],
        status=row["status"],
        task=row["task"],
        config_json=row["config_json"],
        summary=json.loads(summary) if summary else None,
        task_module=row["task_module"],
    )


def search_from_row(row: sqlite3.Row) -> SearchRecord:
    held_out, reason, best_status = row["held_out_json"], row["stop_reason"], row["best_status"]
    return SearchRecord(
        run_id=row["run_id"],
        problem_key=row["problem_key"],
        position=row["position"],
        status=row["status"],
        stop_reason=StopReason(reason) if reason else None,
        stop_detail=row["stop_detail"],
        elapsed_s=float(row["elapsed_s"]),
        best_hypothesis_id=row["best_hypothesis_id"],
        best_score=row["best_score"],
        best_status=VerdictStatus(best_status) if best_status else None,
        held_out=Verdict.model_validate_json(held_out) if held_out else None,
    )


def call_from_row(row: sqlite3.Row) -> CallRecord:
    return CallRecord(
        run_id=row["run_id"],
        problem_key=row["problem_key"],
        iteration=row["iteration"],
        sample=row["sample"],
        created=row["created"],
        messages=tuple(Message.model_validate(m) for m in json.loads(row["messages_json"])),
        params=json.loads(row["params_json"]),
        ok=bool(row["ok"]),
        response_text=row["response_text"],
        error=row["error"],
        model=row["model"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        cost_usd=row["cost_usd"],
        latency_s=row["latency_s"],
        finish_reason=row["finish_reason"],
    )


def hypothesis_from_row(row: sqlite3.Row) -> RecordedHypothesis:
    hypothesis = Hypothesis(
        id=row["id"],
        content=row["content"],
        parent_ids=tuple(json.loads(row["parent_ids_json"])),
        iteration=row["iteration"],
        model=row["model"],
        meta=json.loads(row["meta_json"]),
    )
    return RecordedHypothesis(row["sample"], hypothesis, Verdict.model_validate_json(row["verdict_json"]))


def iteration_from_row(row: sqlite3.Row) -> IterationRecord:
    return IterationRecord(
        run_id=row["run_id"],
        problem_key=row["problem_key"],
        iteration=row["iteration"],
        best_score=row["best_score"],
        iteration_best=row["iteration_best"],
        calls=row["calls"],
        tokens=row["tokens"],
        cost_usd=float(row["cost_usd"]),
        elapsed_s=float(row["elapsed_s"]),
    )


def cached_verdict_from_row(row: sqlite3.Row) -> CachedVerdictRecord:
    return CachedVerdictRecord(
        problem_key=row["problem_key"],
        hypothesis_id=row["hypothesis_id"],
        verifier=row["verifier"],
        version=row["version"],
        created=row["created"],
        verdict=Verdict.model_validate_json(row["verdict_json"]),
    )
