"""The bench's own table, `bench_cells`, in the run store: which run did which cell of which bench.

A run's config is validated strictly (`RunConfig` forbids unknown keys, so a resume can trust it), so the
grid is not written into it; instead one row per cell names the cell's run. The row exists before its run
starts (status `pending`), so a bench that is killed or rerun knows which cells are done, which have a run
to continue and which never started. Readers (`agent.store.queries.read_bench_cells`) tolerate a store
without the table.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.store.connect import connect_writable
from agent.store.queries import BENCH_TABLE, BenchCell, read_bench_cells

_DDL = f"""CREATE TABLE IF NOT EXISTS {BENCH_TABLE} (
    bench_id TEXT NOT NULL,
    task TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    position INTEGER NOT NULL,
    run_id TEXT,
    status TEXT NOT NULL,
    error TEXT,
    threshold REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (bench_id, task, strategy, seed)
)"""


class BenchTable:
    """Writes of one bench's cells; each write is its own commit, like the store's, so a killed bench
    loses nothing it had recorded."""

    def __init__(self, db: Path, bench_id: str) -> None:
        self.bench_id = bench_id
        self._db = connect_writable(db, db)
        self._db.execute(_DDL)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> BenchTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cells(self) -> list[BenchCell]:
        return read_bench_cells(self._db, self.bench_id)

    def ensure(self, task: str, strategy: str, seed: int, position: int) -> None:
        """The cell's row, `pending`, unless the bench already has it (a rerun keeps what it recorded)."""
        now = time.time()
        self._db.execute(
            f"INSERT OR IGNORE INTO {BENCH_TABLE} (bench_id, task, strategy, seed, position, status,"
            " created, updated) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (self.bench_id, task, strategy, seed, position, now, now),
        )

    def update(
        self,
        cell: BenchCell,
        *,
        status: str,
        run_id: str | None = None,
        error: str | None = None,
        threshold: float | None = None,
    ) -> None:
        """Set the cell's status; a run id or threshold given once is kept when later updates omit it."""
        self._db.execute(
            f"UPDATE {BENCH_TABLE} SET status = ?, run_id = COALESCE(?, run_id), error = ?,"
            " threshold = COALESCE(?, threshold), updated = ?"
            " WHERE bench_id = ? AND task = ? AND strategy = ? AND seed = ?",
            (status, run_id, error, threshold, time.time(), self.bench_id, cell.task, cell.strategy,
             cell.seed),
        )  # fmt: skip
