"""`assay runs` as text: one line a run, read through the read-only store (no extra needed)."""

from __future__ import annotations

from pathlib import Path

from agent.store.queries import ReadOnlyStore
from agent.view.format import fmt_date, fmt_duration, fmt_score


def runs_lines(db: Path, *, limit: int, offset: int) -> tuple[list[str], list[str]]:
    """The listing's lines and the store's notes. A missing store is an empty listing, not an error: the
    listing never creates a store (it opens the file read-only, so a running search is never blocked)."""
    if not Path(db).is_file():
        return [f"no runs in {db}"], []
    with ReadOnlyStore(db) as store:
        total = store.count_runs()
        rows = store.page_runs(limit, offset)
        lines = [
            f"{'run':22}  {'status':11} {'task':24} {'model':24} {'date':19} {'duration':>8} "
            f"{'calls':>6} {'cost $':>8} {'best':>7} held-out"
        ]
        for row in rows:
            t = store.run_totals(row)
            held = f"{t.held_out_passed}/{t.held_out_total}" if t.held_out_total else "-"
            solved = (row.summary or {}).get("solve_rate")
            solved_text = f" solved {solved:.0%}" if isinstance(solved, int | float) else ""
            lines.append(
                f"{row.id:22}  {row.status:11} {row.task:24} {row.config.get('model')!s:24} "
                f"{fmt_date(row.created):19} {fmt_duration(t.duration_s):>8} {t.calls:>6} "
                f"{t.cost_usd:>8.4f} {fmt_score(t.best_score):>7} {held}{solved_text}"
            )
        notes = store.notes
    if not rows:
        return [f"no runs in {db}" + (f" past offset {offset}" if offset else "")], notes
    if offset or offset + len(rows) < total:
        lines.append(f"runs {offset + 1}-{offset + len(rows)} of {total} (--offset/--limit for more)")
    return lines, notes
