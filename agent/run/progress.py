"""Live progress of a run: a rich table on a terminal, plain lines otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agent.search.loop import Progress


def _fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.4g}"


def describe(p: Progress) -> str:
    line = (
        f"[{p.problem_key}] iter {p.iteration} best {_fmt_score(p.best_score)} calls {p.spend.calls} "
        f"tokens {p.spend.tokens} cost ${p.spend.cost_usd:.4f} {p.elapsed_s:.1f}s"
    )
    return f"{line} {p.note}".rstrip()


class ProgressDisplay:
    """Receives `Progress` events; renders to stderr so stdout stays clean for `--json`."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._rows: dict[str, Progress] = {}
        self._live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._live = Live(self._table(), console=Console(file=self.stream), refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def __call__(self, p: Progress) -> None:
        self._rows[p.problem_key] = p
        if self._live is not None:
            self._live.update(self._table())
        else:
            print(describe(p), file=self.stream, flush=True)

    def _table(self) -> Table:
        table = Table(title="assay", expand=False)
        for column in ("problem", "iter", "best", "calls", "tokens", "cost $", "elapsed", "note"):
            table.add_column(column)
        for p in self._rows.values():
            table.add_row(
                p.problem_key,
                str(p.iteration),
                _fmt_score(p.best_score),
                str(p.spend.calls),
                str(p.spend.tokens),
                f"{p.spend.cost_usd:.4f}",
                f"{p.elapsed_s:.1f}s",
                p.note,
            )
        return table
