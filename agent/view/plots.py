"""The viewer's plots, drawn by matplotlib as inline SVG text.

SVG embedded in the page needs no network, no image file and no JavaScript, so the web page and the
self-contained report show the very same figure. matplotlib escapes the text it writes into the SVG, and
the labels it is given are problem keys and numbers, never candidate text.
"""

from __future__ import annotations

import io
import threading

from agent.bench.summary import BenchRow, CellResult
from agent.view.data import ProblemView

#: matplotlib's pyplot state is global: one figure is drawn at a time (the web app serves from threads)
_LOCK = threading.Lock()


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def score_plot(problem: ProblemView) -> str | None:
    """Best score against calls and against time, with every scored candidate by the call that made it;
    None when nothing has been scored yet."""
    its = [r for r in problem.iterations if r.best_score is not None]
    scored = [c for c in problem.candidates if c.verdict.score is not None and c.call_index is not None]
    if not its and not scored:
        return None
    with _LOCK:
        plt = _pyplot()
        fig, (by_calls, by_time) = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
        try:
            if scored:
                by_calls.scatter(
                    [c.call_index for c in scored],
                    [c.verdict.score for c in scored],
                    s=14,
                    alpha=0.5,
                    color="#8a8a8a",
                    label="candidate",
                )
            if its:
                by_calls.step([r.calls for r in its], [r.best_score for r in its], where="post", label="best")
                by_calls.plot([r.calls for r in its], [r.best_score for r in its], "o", color="C0", ms=3)
                by_time.step([r.elapsed_s for r in its], [r.best_score for r in its], where="post")
                by_time.plot([r.elapsed_s for r in its], [r.best_score for r in its], "o", color="C0", ms=3)
            by_calls.set(xlabel="LLM calls", ylabel="score", title="best score by calls")
            by_time.set(xlabel="seconds", ylabel="best score", title="best score by time")
            by_calls.legend(loc="lower right", fontsize="small")
            for ax in (by_calls, by_time):
                ax.grid(alpha=0.3)
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
        finally:
            plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]  # drop the XML prolog and doctype: the SVG sits inside HTML


def status_plot(mix: dict[str, int]) -> str | None:
    """The mix of verdict statuses as a small horizontal bar chart."""
    if not mix:
        return None
    colors = {
        "ok": "#2e7d32",
        "fail": "#ef6c00",
        "invalid": "#6a1b9a",
        "timeout": "#1565c0",
        "error": "#c62828",
    }
    names = sorted(mix)
    with _LOCK:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(4, 0.4 + 0.3 * len(names)), constrained_layout=True)
        try:
            ax.barh(names, [mix[n] for n in names], color=[colors.get(n, "#777") for n in names])
            ax.set_xlabel("candidates")
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
        finally:
            plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]


def bench_plot(task: str, rows: list[BenchRow], cells: list[CellResult]) -> str | None:
    """One task's strategies side by side: each seed's score as a dot, the mean with its 95% interval as
    an error bar, so overlapping intervals are seen as overlapping; None before any cell has a score."""
    scored = [c for c in cells if c.task == task and c.score is not None and c.status == "finished"]
    if not scored:
        return None
    names = [r.strategy for r in rows]
    with _LOCK:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(names) + 2), 3.2), constrained_layout=True)
        try:
            for i, r in enumerate(rows):
                seeds = [c.score for c in scored if c.strategy == r.strategy]
                ax.scatter([i] * len(seeds), seeds, s=16, alpha=0.6, color="#8a8a8a", zorder=2)
                if r.score.mean is not None:
                    ax.errorbar([i], [r.score.mean], yerr=[[r.score.ci95 or 0.0], [r.score.ci95 or 0.0]],
                                fmt="o", color="C0", capsize=6, zorder=3)  # fmt: skip
            ax.set_xticks(range(len(names)), names)
            ax.set_xlim(-0.6, len(names) - 0.4)
            ax.set(ylabel="score (mean, 95% CI)", title=f"{task}: strategies at one budget")
            ax.grid(alpha=0.3, axis="y")
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
        finally:
            plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]
