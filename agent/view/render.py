"""HTML of the run list and of one run, for the web app and for the self-contained report.

The report is the run page with `live=False`: the same template, the same inline SVG plots, inline CSS and
script, and no link or request to anything outside the file, so it opens from disk without a network.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from agent.bench.summary import BenchSummary, summarise
from agent.store.queries import ReadOnlyStore, RunTotals
from agent.store.records import RunRecord
from agent.view.data import RunView
from agent.view.format import fmt_date, fmt_duration, fmt_score
from agent.view.plots import bench_plot, score_plot, status_plot
from agent.view.templates import BASE, BENCH, RUN, RUNS


@dataclass(frozen=True)
class ListedRun:
    run: RunRecord
    totals: RunTotals


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "hunk"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "")


def _environment() -> Any:
    from jinja2 import DictLoader, Environment, select_autoescape

    env = Environment(
        loader=DictLoader({"base": BASE, "runs": RUNS, "run": RUN, "bench": BENCH}),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters.update(score=fmt_score, duration=fmt_duration, date=fmt_date, diffclass=_diff_class)
    return env


_ENV: Any = None


def _render(name: str, *, live: bool, **context: Any) -> str:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    nonce = secrets.token_urlsafe(12)
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'nonce-{nonce}'; connect-src 'self'"
    )
    return str(
        _ENV.get_template(name).render(
            live=live, nonce=nonce, csp=csp, generated=fmt_date(time.time()), **context
        )
    )


def runs_page(store: ReadOnlyStore, *, limit: int = 50, offset: int = 0, live: bool = True) -> str:
    runs = [ListedRun(r, store.run_totals(r)) for r in store.page_runs(limit, offset)]
    return _render(
        "runs",
        live=live and any(r.run.status == "running" for r in runs),
        poll="/api/runs/fingerprint" if live else None,
        fingerprint=runs_fingerprint(store),
        title="assay runs",
        runs=runs,
        total=store.count_runs(),
        limit=limit,
        offset=offset,
        db=str(store.path),
        benches=store.bench_ids(),
    )


def runs_fingerprint(store: ReadOnlyStore) -> str:
    """Changes when a run is added or any running run records something."""
    running = [r for r in store.page_runs(1000, 0) if r.status == "running"]
    benches = "|".join(f"{b}:{n}" for b, _, n in store.bench_ids())
    return f"{store.count_runs()}|{benches}|" + "|".join(store.run_fingerprint(r.id) for r in running)


def run_page(view: RunView, *, live: bool, fingerprint: str = "") -> str:
    """One run; `live`: the web app's page, which polls while the run is in progress."""
    plots = [{"score": score_plot(p), "status": status_plot(p.status_mix)} for p in view.problems]
    polling = live and view.run.status == "running"
    return _render(
        "run",
        live=live,
        poll=f"/api/run/{view.run.id}/fingerprint" if polling else None,
        fingerprint=fingerprint,
        title=f"assay run {view.run.id}",
        v=view,
        plots=plots,
    )


def bench_summary(store: ReadOnlyStore, bench: str) -> BenchSummary | None:
    """The bench with this id (or unique prefix), summarised from its runs' records; None if unknown."""
    found = store.resolve_bench(bench)
    return None if found is None else summarise(store, found, store.bench_cells(found))


def bench_fingerprint(store: ReadOnlyStore, bench_id: str) -> str:
    """Changes when a cell changes or any of its runs records something: what a live bench page polls."""
    cells = store.bench_cells(bench_id)
    return "|".join(f"{c.status}:{store.run_fingerprint(c.run_id) if c.run_id else ''}" for c in cells)


def bench_page(summary: BenchSummary, *, live: bool, fingerprint: str = "") -> str:
    """The strategies of each task compared; `live`: polls while a cell is still pending or running."""
    tasks = list(dict.fromkeys(r.task for r in summary.rows))
    plots = [bench_plot(t, [r for r in summary.rows if r.task == t], summary.cells) for t in tasks]
    polling = live and any(c.status in ("pending", "running") for c in summary.cells)
    return _render(
        "bench",
        live=live,
        poll=f"/api/bench/{summary.bench_id}/fingerprint" if polling else None,
        fingerprint=fingerprint,
        title=f"assay bench {summary.bench_id}",
        s=summary,
        plots=[p for p in plots if p],
    )
