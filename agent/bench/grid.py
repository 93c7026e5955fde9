"""Run a bench's grid: every (task, strategy, seed) cell one ordinary run, one after another.

Each cell is built from the same flags and config file as `assay run` with only its task, strategy and
seed changed, so every strategy of a task spends the same budget. All cells are prepared (validated,
resolved) before the first model call: a typo in a strategy or a budget fails the bench at once, with
nothing recorded. A cell whose run fails (the model, the infrastructure) is recorded as such and the next
cell runs; a rerun with the same `--bench-id` skips finished cells and continues unfinished runs with
`assay resume`'s machinery (recorded completions replayed, finished verdicts cached).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.bench.cells import BenchTable
from agent.kernel.errors import ConfigError
from agent.run.config import RunConfig, build_config
from agent.run.interrupt import run_interruptibly
from agent.run.runner import PreparedRun, RunStopped, execute, load_stored_config, prepare
from agent.store.queries import BenchCell
from agent.store.sqlite import Store


@dataclass(frozen=True)
class BenchPlan:
    """The grid and the settings every cell shares."""

    tasks: list[str]
    strategies: list[str]
    seeds: list[int]
    file_values: dict[str, Any]
    flags: dict[str, Any]  # `assay run`'s flags, without task/strategy/seed
    threshold: float | None  # None: each task's run target (its suite's default_target)

    def configs(self) -> list[tuple[str, str, int, RunConfig]]:
        """One config per cell, in grid order; a ConfigError (exit 2) names the first bad one."""
        out = []
        for task in self.tasks:
            for strategy in self.strategies:
                for seed in self.seeds:
                    flags = {**self.flags, "task": task, "strategy": strategy, "seed": seed}
                    out.append((task, strategy, seed, build_config(self.file_values, flags)))
        return out


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _prepared_cells(plan: BenchPlan) -> list[tuple[str, str, int, PreparedRun]]:
    """Every cell checked before anything runs, so bad input never leaves half a bench."""
    cells = []
    for task, strategy, seed, config in plan.configs():
        prepared = prepare(config)
        for warning in prepared.warnings if not cells else ():
            _say(f"warning: {warning}")
        cells.append((task, strategy, seed, prepared))
    return cells


def _resume_prepared(store: Store, run_id: str) -> PreparedRun:
    _, config = load_stored_config(store, run_id)
    return prepare(config, resuming=True)


def run_cell(
    store: Store,
    table: BenchTable,
    cell: BenchCell,
    prepared: PreparedRun,
    threshold: float | None,
) -> None:
    """One cell's run (new, or continued when the cell has an unfinished one); its failure is recorded on
    the cell, never raised, so the other cells still run. Ctrl-C is recorded and re-raised."""
    resuming = cell.run_id is not None
    started: list[str] = [cell.run_id] if cell.run_id else []

    def on_start(run_id: str) -> None:
        started.append(run_id)
        table.update(cell, status="running", run_id=run_id, threshold=threshold)

    try:
        if resuming:
            assert cell.run_id is not None
            prepared = _resume_prepared(store, cell.run_id)
        run_interruptibly(execute(prepared, store, run_id=cell.run_id, on_start=on_start))
    except KeyboardInterrupt:
        table.update(cell, status="interrupted", error="interrupted")
        raise
    except RunStopped as e:  # the run is recorded as stopped (model error, infrastructure, disk)
        run = store.get_run(started[-1]) if started else None
        table.update(cell, status=run.status if run else "failed", error=" ".join(str(e).split()))
        return
    except Exception as e:  # one cell's failure (an AssayError, or a bug) must not end the bench
        table.update(cell, status="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}")
        return
    table.update(cell, status="finished", error=None, threshold=threshold)


#: what must be the same in every cell of a bench (and in a rerun of it) for its runs to be comparable;
#: a new --base-url or request timeout does not change what is measured
_COMPARED = ("model", "problems", "budget", "samples", "top_k", "temperature", "completion_tokens")


def _check_same_grid(
    store: Store,
    bench_id: str,
    recorded: dict[tuple[str, str, int], BenchCell],
    cells: list[tuple[str, str, int, PreparedRun]],
) -> None:
    """A rerun with another budget or model would mix two benches under one id: refused (exit 2) before
    anything runs, naming the first difference."""
    for task, strategy, seed, prepared in cells:
        cell = recorded[(task, strategy, seed)]
        run = store.get_run(cell.run_id) if cell.run_id else None
        if run is None:
            continue
        now = prepared.config.model_dump(mode="json")
        for key in _COMPARED:
            if key in run.config and run.config[key] != now.get(key):
                raise ConfigError(
                    f"bench {bench_id}: {task} {strategy} seed {seed} was run with {key} "
                    f"{run.config[key]!r}, not {now.get(key)!r}: give the same settings to continue it, "
                    "or leave out --bench-id to start a new bench"
                )


def run_bench(
    db: Path, bench_id: str, plan: BenchPlan, on_cell: Callable[[BenchCell, str], None] | None = None
) -> list[BenchCell]:
    """Run the grid's unfinished cells; returns the bench's cells as recorded afterwards."""
    cells = _prepared_cells(plan)
    with BenchTable(db, bench_id) as table, Store(db) as store:
        for position, (task, strategy, seed, _) in enumerate(cells):
            table.ensure(task, strategy, seed, position)
        recorded = {(c.task, c.strategy, c.seed): c for c in table.cells()}
        _check_same_grid(store, bench_id, recorded, cells)
        for task, strategy, seed, prepared in cells:
            cell = recorded[(task, strategy, seed)]
            if cell.status == "finished":
                _say(f"bench {bench_id}: {task} {strategy} seed {seed}: finished before (run {cell.run_id})")
                continue
            threshold = plan.threshold if plan.threshold is not None else prepared.config.budget.target
            what = "continuing run " + cell.run_id if cell.run_id else "starting"
            _say(f"bench {bench_id}: {task} {strategy} seed {seed}: {what}")
            started = time.monotonic()
            run_cell(store, table, cell, prepared, threshold)
            done = next(c for c in table.cells() if (c.task, c.strategy, c.seed) == (task, strategy, seed))
            _say(
                f"bench {bench_id}: {task} {strategy} seed {seed}: {done.status} "
                f"(run {done.run_id}, {time.monotonic() - started:.1f}s)"
                + (f": {done.error}" if done.error else "")
            )
            if on_cell is not None:
                on_cell(done, done.status)
        return table.cells()
