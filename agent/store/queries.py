"""Read-only queries of the run store, for the viewer, the report and the listing commands.

A viewer must never get in a running search's way: `ReadOnlyStore` opens the file with SQLite's `mode=ro`
URI, so it takes no write lock, runs no migration and never switches the journal mode; in WAL mode a reader
and the one writer do not block each other. It reuses `Store`'s typed readers (same parsing of untrusted
rows, same notes) and adds the aggregate queries a listing needs, which `Store` (the search's store) does not.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from agent.kernel.errors import StoreError
from agent.store.migrations import check_not_newer, schema_version
from agent.store.records import CallRecord, RunRecord, call_from_row, run_from_row
from agent.store.sqlite import Store

#: the heading the prompt builder puts before the earlier attempts (agent.search.prompts)
_ATTEMPTS_HEADING = "\n\n## Earlier attempts"


@dataclass(frozen=True)
class RunTotals:
    """What a listing shows of a run beside its record: spend, time, and the best results."""

    calls: int
    tokens: int
    cost_usd: float
    duration_s: float  # updated - created; for a run still going, now - created
    best_score: float | None
    held_out_passed: int  # problems whose held-out verdict is ok
    held_out_total: int  # problems with a held-out verdict


@dataclass(frozen=True)
class ModelCost:
    model: str
    calls: int
    tokens: int
    cost_usd: float


def statement_from_calls(calls: list[CallRecord]) -> str | None:
    """The task's instructions as the model first read them: the user message of the first call, up to
    the earlier attempts the prompt builder appends (the store keeps no other copy of them)."""
    if not calls:
        return None
    first = min(calls, key=lambda c: (c.iteration, c.sample))
    users = [m.content for m in first.messages if m.role == "user"]
    return users[0].split(_ATTEMPTS_HEADING, 1)[0].strip() if users else None


class ReadOnlyStore(Store):
    """`Store`'s readers over a read-only connection. Its writers fail (SQLite refuses them)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"no run store at {self.path}")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
            check_not_newer(schema_version(self._db), self.path)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open run store {self.path} read-only: {e}") from None
        self._db.row_factory = sqlite3.Row
        self._notes: dict[str, None] = {}

    def page_runs(self, limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """Runs newest first, one page of them."""
        rows = self._db.execute(
            "SELECT * FROM runs ORDER BY created DESC LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return self._parse(rows, run_from_row)

    def count_runs(self) -> int:
        count: int = self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return count

    def run_totals(self, run: RunRecord, now: float | None = None) -> RunTotals:
        """Spend summed over the run's calls, best score over its searches (one query each)."""
        calls, tokens, cost = self._db.execute(
            """SELECT COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0),
                      COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE run_id = ?""",
            (run.id,),
        ).fetchone()
        if type(tokens) is not int:
            tokens = 0
        if not isinstance(cost, int | float) or not math.isfinite(cost):
            cost = 0.0
        searches = self.searches(run.id)
        scores = [s.best_score for s in searches if s.best_score is not None]
        held = [s.held_out for s in searches if s.held_out is not None]
        end = (now or time.time()) if run.status == "running" else run.updated
        return RunTotals(
            calls=calls,
            tokens=tokens,
            cost_usd=float(cost),
            duration_s=max(0.0, end - run.created),
            best_score=max(scores) if scores else None,
            held_out_passed=sum(1 for v in held if v.status.value == "ok"),
            held_out_total=len(held),
        )

    def cost_per_model(self, run_id: str) -> list[ModelCost]:
        rows = self._db.execute(
            """SELECT COALESCE(model, '(failed call)'), COUNT(*),
                      COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost_usd), 0)
               FROM llm_calls WHERE run_id = ? GROUP BY 1 ORDER BY 1""",
            (run_id,),
        ).fetchall()
        out = []
        for model, calls, tokens, cost in rows:
            ok_cost = isinstance(cost, int | float) and math.isfinite(cost)
            tokens = tokens if type(tokens) is int else 0
            out.append(ModelCost(str(model), calls, tokens, float(cost) if ok_cost else 0.0))
        return out

    def problem_statement(self, run_id: str, problem_key: str) -> str | None:
        """See `statement_from_calls`; reads only the first call."""
        row = self._db.execute(
            """SELECT * FROM llm_calls WHERE run_id = ? AND problem_key = ?
               ORDER BY iteration, sample LIMIT 1""",
            (run_id, problem_key),
        ).fetchone()
        call = self._parse_one(row, call_from_row) if row is not None else None
        return statement_from_calls([call] if call else [])

    def run_fingerprint(self, run_id: str) -> str:
        """Changes whenever the run gains a call, a candidate or a status: what a live page polls, cheaply,
        to know it should reload."""
        row = self._db.execute(
            """SELECT (SELECT updated || status FROM runs WHERE id = ?),
                      (SELECT COUNT(*) FROM llm_calls WHERE run_id = ?),
                      (SELECT COUNT(*) FROM hypotheses WHERE run_id = ?),
                      (SELECT COUNT(*) FROM searches WHERE run_id = ? AND status = 'finished')""",
            (run_id, run_id, run_id, run_id),
        ).fetchone()
        return "/".join(str(v) for v in row)

    def bench_cells(self, bench_id: str) -> list[BenchCell]:
        return read_bench_cells(self._db, bench_id)

    def bench_ids(self, limit: int = 100) -> list[tuple[str, float, int]]:
        return read_bench_ids(self._db, limit)

    def resolve_bench(self, bench: str) -> str | None:
        return resolve_bench_id(self._db, bench)


#: the table `assay bench` keeps beside the runs (agent.bench.cells creates and writes it); a store that
#: never held a bench has none, and reads as holding no bench
BENCH_TABLE = "bench_cells"


@dataclass(frozen=True)
class BenchCell:
    """One cell of a bench grid (task x strategy x seed): the run that did it, or why none finished."""

    bench_id: str
    task: str
    strategy: str
    seed: int
    position: int
    run_id: str | None
    status: str  # pending | running | finished | failed (the run's own status, or why there is none)
    error: str | None
    threshold: float | None
    created: float
    updated: float


def _has_bench_table(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (BENCH_TABLE,))
    return row.fetchone() is not None


def read_bench_cells(db: sqlite3.Connection, bench_id: str) -> list[BenchCell]:
    """The bench's cells in grid order; [] for an unknown bench or a store without benches. Shared by the
    bench itself (to skip finished cells) and the viewer, so both read a cell the same way."""
    if not _has_bench_table(db):
        return []
    rows = db.execute(
        f"SELECT bench_id, task, strategy, seed, position, run_id, status, error, threshold, created,"
        f" updated FROM {BENCH_TABLE} WHERE bench_id = ? ORDER BY position",
        (bench_id,),
    ).fetchall()
    cells = []
    for r in rows:
        threshold = r[8] if isinstance(r[8], int | float) and math.isfinite(r[8]) else None
        cells.append(
            BenchCell(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]),
                      None if r[5] is None else str(r[5]), str(r[6]),
                      None if r[7] is None else str(r[7]), threshold, float(r[9]), float(r[10]))
        )  # fmt: skip
    return cells


def read_bench_ids(db: sqlite3.Connection, limit: int = 100) -> list[tuple[str, float, int]]:
    """(bench id, when it started, cells) of the newest benches first."""
    if not _has_bench_table(db):
        return []
    rows = db.execute(
        f"SELECT bench_id, MIN(created), COUNT(*) FROM {BENCH_TABLE} GROUP BY bench_id"
        " ORDER BY MIN(created) DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [(str(b), float(c), int(n)) for b, c, n in rows]


def resolve_bench_id(db: sqlite3.Connection, bench: str) -> str | None:
    """The bench with this id, or the only one it is a prefix of (as run ids are found)."""
    if not _has_bench_table(db):
        return None
    ids = {b for b, _, _ in read_bench_ids(db, limit=10**6)}
    if bench in ids:
        return bench
    matches = [b for b in ids if b.startswith(bench)] if bench else []
    return matches[0] if len(matches) == 1 else None
