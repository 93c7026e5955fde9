"""A bench's comparison, computed from the recorded runs only (never from what the bench process saw).

Reading the store, not the bench's memory, is what makes the printed table, `--json`, `assay view` and
`assay report` agree with each other and with the runs, and lets a bench finished in three sittings be
summarised as one. Per cell (one run) the score is the held-out result: the mean score of its problems'
held-out verdicts, a verdict without a score (an invalid or crashed final best) counting as no score
rather than a number. A task without a held-out check falls back to the search's best score, and says so.
Per (task, strategy) the seeds' scores give a mean, a sample standard deviation and a 95% Student-t
interval; calls and seconds to the threshold are the first recorded iteration whose best reached it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from agent.store.queries import BenchCell
from agent.store.records import IterationRecord, RunRecord, SearchRecord

#: two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal's 1.96); a
#: table, because a bench of 2-5 seeds is exactly where the normal approximation is badly optimistic
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
         2.048, 2.045, 2.042)  # fmt: skip


class RunReader(Protocol):
    """The store readers a summary needs (`Store` and `ReadOnlyStore` both have them)."""

    def get_run(self, run_id: str) -> RunRecord | None: ...
    def searches(self, run_id: str) -> list[SearchRecord]: ...
    def iterations(self, run_id: str, problem_key: str) -> list[IterationRecord]: ...


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and the 95% interval's half-width over n values (None below 2)."""

    n: int
    mean: float | None
    std: float | None
    ci95: float | None

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            return cls(0, None, None, None)
        mean = statistics.fmean(values)
        if len(values) < 2:
            return cls(1, mean, None, None)
        std = statistics.stdev(values)
        t = _T975[len(values) - 2] if len(values) - 1 <= len(_T975) else 1.96
        return cls(len(values), mean, std, t * std / math.sqrt(len(values)))


@dataclass(frozen=True)
class CellResult:
    """One cell's run as recorded: its score, spend, and how soon each of its searches reached the bar."""

    task: str
    strategy: str
    seed: int
    run_id: str | None
    status: str
    error: str | None
    score: float | None
    score_source: str  # held-out | search | none
    held_out_passed: int
    problems: int
    calls: int
    tokens: int
    cost_usd: float
    #: False when the run's model has no known price (its summary says cost None): then $0 is unknown
    cost_known: bool
    seconds: float
    threshold: float | None
    #: per problem, the calls and seconds of the first iteration whose best reached the threshold (None:
    #: never)
    calls_to_threshold: list[int | None] = field(default_factory=list)
    seconds_to_threshold: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class BenchRow:
    """One (task, strategy): the seeds' cells summarised."""

    task: str
    strategy: str
    seeds: int
    finished: int
    score: Spread
    score_source: str
    threshold: float | None
    reached: int  # searches (problem x seed) whose best reached the threshold
    searches: int
    calls_to_threshold: Spread
    seconds_to_threshold: Spread
    calls: Spread
    cost_usd: Spread
    cost_known: bool
    seconds: Spread


@dataclass(frozen=True)
class BenchSummary:
    bench_id: str
    rows: list[BenchRow]
    cells: list[CellResult]

    @property
    def complete(self) -> bool:
        """Every cell's run finished: what `assay bench` exits 0 on."""
        return bool(self.cells) and all(c.status == "finished" for c in self.cells)

    def to_json(self) -> dict[str, Any]:
        return {"bench_id": self.bench_id, "complete": self.complete,
                "rows": [asdict(r) for r in self.rows], "cells": [asdict(c) for c in self.cells]}  # fmt: skip


def _reach(iterations: list[IterationRecord], threshold: float | None) -> tuple[int | None, float | None]:
    if threshold is None:
        return None, None
    for it in iterations:
        if it.best_score is not None and it.best_score >= threshold:
            return it.calls, it.elapsed_s
    return None, None


def _cost_known(run: RunRecord) -> bool:
    problems = (run.summary or {}).get("problems")
    if not isinstance(problems, list):
        return True
    return all(not isinstance(p, dict) or p.get("cost_usd") is not None for p in problems)


def cell_result(store: RunReader, cell: BenchCell) -> CellResult:
    """The cell's numbers from its run's records (zeros and no score for a cell without a run)."""
    base = {"task": cell.task, "strategy": cell.strategy, "seed": cell.seed, "run_id": cell.run_id,
            "error": cell.error, "threshold": cell.threshold}  # fmt: skip
    run = store.get_run(cell.run_id) if cell.run_id else None
    if run is None:
        return CellResult(**base, status=cell.status, score=None, score_source="none", held_out_passed=0,
                          problems=0, calls=0, tokens=0, cost_usd=0.0, cost_known=True,
                          seconds=0.0)  # fmt: skip
    searches = store.searches(run.id)
    held = [s.held_out for s in searches if s.held_out is not None]
    if held:
        scores = [v.score for v in held if v.score is not None]
        source = "held-out"
    else:
        scores = [s.best_score for s in searches if s.best_score is not None]
        source = "search" if scores else "none"
    calls = tokens = 0
    cost = seconds = 0.0
    reach_calls: list[int | None] = []
    reach_secs: list[float | None] = []
    for s in searches:
        its = store.iterations(run.id, s.problem_key)
        if its:
            calls, tokens, cost = calls + its[-1].calls, tokens + its[-1].tokens, cost + its[-1].cost_usd
        seconds += s.elapsed_s
        c, t = _reach(its, cell.threshold)
        reach_calls.append(c)
        reach_secs.append(t)
    return CellResult(
        **base, status=run.status, score=statistics.fmean(scores) if scores else None, score_source=source,
        held_out_passed=sum(v.status.value == "ok" for v in held), problems=len(searches), calls=calls,
        tokens=tokens, cost_usd=cost, cost_known=_cost_known(run), seconds=seconds,
        calls_to_threshold=reach_calls, seconds_to_threshold=reach_secs,
    )  # fmt: skip


def summarise(store: RunReader, bench_id: str, cells: list[BenchCell]) -> BenchSummary:
    """Rows in the grid's order of first appearance: tasks as given, strategies as given."""
    results = [cell_result(store, c) for c in cells]
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for r in results:
        groups.setdefault((r.task, r.strategy), []).append(r)
    rows = []
    for (task, strategy), group in groups.items():
        done = [r for r in group if r.status == "finished"]
        reach_c = [c for r in done for c in r.calls_to_threshold if c is not None]
        reach_s = [s for r in done for s in r.seconds_to_threshold if s is not None]
        sources = {r.score_source for r in done if r.score is not None}
        rows.append(
            BenchRow(
                task=task, strategy=strategy, seeds=len(group), finished=len(done),
                score=Spread.of([r.score for r in done if r.score is not None]),
                score_source=sources.pop() if len(sources) == 1 else ("mixed" if sources else "none"),
                threshold=next((r.threshold for r in group if r.threshold is not None), None),
                reached=len(reach_c), searches=sum(len(r.calls_to_threshold) for r in done),
                calls_to_threshold=Spread.of([float(c) for c in reach_c]),
                seconds_to_threshold=Spread.of(reach_s),
                calls=Spread.of([float(r.calls) for r in done]),
                cost_usd=Spread.of([r.cost_usd for r in done]),
                cost_known=all(r.cost_known for r in done),
                seconds=Spread.of([r.seconds for r in done]),
            )
        )  # fmt: skip
    return BenchSummary(bench_id, rows, results)


def fmt_spread(s: Spread, digits: int = 4) -> str:
    """`0.75 ± 0.35 (n=2)`: the mean and the 95% interval's half-width; `-` without values."""
    if s.mean is None:
        return "-"
    if s.ci95 is None:
        return f"{s.mean:.{digits}g} (n={s.n})"
    return f"{s.mean:.{digits}g} ± {s.ci95:.{digits}g} (n={s.n})"
