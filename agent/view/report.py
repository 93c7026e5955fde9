"""`assay report RUN -o FILE`: one run (or one bench) as a single HTML file that opens without a network."""

from __future__ import annotations

from pathlib import Path

from agent.kernel.errors import ConfigError, StoreError
from agent.store.queries import ReadOnlyStore
from agent.view.data import run_view
from agent.view.render import bench_page, bench_summary, run_page
from agent.view.server import require_extra


def write_report(db: Path, run: str, output: Path) -> str:
    """Write the report of a run or, when `run` names no run, of a bench (`assay bench`); returns the full
    id. The file is written whole, then moved into place, so a reader never opens half a report."""
    require_extra()
    with ReadOnlyStore(db) as store:
        view = run_view(store, run)
        summary = bench_summary(store, run) if view is None else None
    if view is not None:
        html, shown = run_page(view, live=False), view.run.id
    elif summary is not None:
        html, shown = bench_page(summary, live=False), summary.bench_id
    else:
        raise ConfigError(f"no run or bench {run!r} in {db} (see `assay runs`)")
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(output)
    except OSError as e:
        raise StoreError(f"cannot write report {output}: {e}") from None
    return shown
