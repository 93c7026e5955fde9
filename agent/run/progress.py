"""Live progress of a run: a rich table on a terminal, plain lines otherwise (logs, CI, pipes).

The search reports once per iteration (`Progress`), which with a slow model is a minute of silence; a
display that only redrew then would look frozen. So the table is redrawn by rich's `Live` on its own
clock (elapsed time ticks between events), and `ObservedStore` tells the display what each sample is doing
as the search records it: a sample is *sampling* from the start of its iteration until its call is
recorded, *verifying* until its verdict is, then *done*, and the latest verdict's feedback is shown. The
store is where every step is recorded the moment it happens, so watching it needs no hook in the loop.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agent.kernel.records import RecordedCall
from agent.kernel.types import Completion, Hypothesis, Message, Verdict
from agent.search.loop import Progress
from agent.store.sqlite import Store

SAMPLING, VERIFYING, DONE, FAILED = "sampling", "verifying", "done", "failed"
#: the widest the feedback column gets (one line of it)
FEEDBACK_CHARS = 60
COLUMNS = ("problem", "iter", "best", "calls", "tokens", "cost $", "elapsed", "samples", "feedback")


def _fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.4g}"


def _fmt_cost(cost_usd: float, known: bool) -> str:
    """A model without a known price costs an unknown amount: "unknown", never a reassuring $0.0000."""
    return f"${cost_usd:.4f}" if known else "unknown"


def describe(p: Progress, *, cost_known: bool = True) -> str:
    line = (
        f"[{p.problem_key}] iter {p.iteration} best {_fmt_score(p.best_score)} calls {p.spend.calls} "
        f"tokens {p.spend.tokens} cost {_fmt_cost(p.spend.cost_usd, cost_known)} {p.elapsed_s:.1f}s"
    )
    return f"{line} {p.note}".rstrip()


def one_line(text: str, width: int = FEEDBACK_CHARS) -> str:
    """The first non-empty line of a feedback, cut to `width`."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


@dataclass
class _Row:
    """What the table shows of one problem, between and during iterations."""

    key: str
    started: float  # monotonic time the row appeared (its clock until the first Progress)
    progress: Progress | None = None
    progress_at: float = 0.0  # monotonic time of `progress`
    iteration: int = 0  # the iteration in flight
    samples: dict[int, str] = field(default_factory=dict)
    feedback: str = ""
    finished: bool = False

    def elapsed(self, now: float) -> float:
        if self.progress is None:
            return now - self.started
        if self.finished:
            return self.progress.elapsed_s
        return self.progress.elapsed_s + (now - self.progress_at)

    def sample_text(self) -> str:
        if not self.samples:
            return ""
        counts = {
            s: sum(1 for v in self.samples.values() if v == s) for s in (SAMPLING, VERIFYING, DONE, FAILED)
        }
        return " ".join(f"{n} {s}" for s, n in counts.items() if n)


class ProgressDisplay:
    """Receives `Progress` events and sample events; renders to stderr so stdout stays clean for `--json`."""

    #: False for a model without a known price (set by the CLI from the prepared run)
    cost_known: bool = True

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._rows: dict[str, _Row] = {}
        self._live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._live = Live(
                console=Console(file=self.stream), refresh_per_second=4, get_renderable=self._table
            )
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def _row(self, key: str) -> _Row:
        if key not in self._rows:
            self._rows[key] = _Row(key, time.monotonic())
        return self._rows[key]

    def __call__(self, p: Progress) -> None:
        row = self._row(p.problem_key)
        row.progress, row.progress_at = p, time.monotonic()
        if self._live is None:
            print(describe(p, cost_known=self.cost_known), file=self.stream, flush=True)

    # -- sample events (from ObservedStore) ----------------------------------------------------------
    def search_started(self, key: str) -> None:
        self._row(key)

    def iteration_started(self, key: str, iteration: int, samples: int, replayed: set[int]) -> None:
        row = self._row(key)
        row.iteration = iteration
        row.samples = {s: VERIFYING if s in replayed else SAMPLING for s in range(samples)}

    def sampled(self, key: str, iteration: int, sample: int, ok: bool) -> None:
        row = self._row(key)
        if iteration == row.iteration:
            row.samples[sample] = VERIFYING if ok else FAILED

    def verified(self, key: str, iteration: int, sample: int, verdict: Verdict) -> None:
        row = self._row(key)
        if iteration == row.iteration:
            row.samples[sample] = DONE
        if verdict.feedback.strip():
            row.feedback = one_line(verdict.feedback)

    def search_finished(self, key: str) -> None:
        row = self._row(key)
        row.finished = True
        row.samples = {}

    def _table(self) -> Table:
        now = time.monotonic()
        table = Table(title="assay", expand=False)
        for column in (
            "problem",
            "iter",
            "best",
            "calls",
            "tokens",
            "cost $",
            "elapsed",
            "samples",
            "feedback",
        ):
            table.add_column(column)
        for row in self._rows.values():
            p = row.progress
            table.add_row(
                row.key,
                str(row.iteration or (p.iteration if p else 0)),
                _fmt_score(p.best_score) if p else "-",
                str(p.spend.calls) if p else "0",
                str(p.spend.tokens) if p else "0",
                _fmt_cost(p.spend.cost_usd if p else 0.0, self.cost_known).removeprefix("$"),
                f"{row.elapsed(now):.1f}s",
                "finished" if row.finished else row.sample_text(),
                row.feedback or (p.note if p else ""),
            )
        return table


class ObservedStore(Store):
    """The run's store, telling a `ProgressDisplay` about each step as it is recorded (then it is true)."""

    def __init__(self, path: Path | str, display: ProgressDisplay, *, samples: int) -> None:
        super().__init__(path)
        self.display, self.samples = display, samples

    def start_search(self, run_id: str, problem_key: str, position: int) -> None:
        super().start_search(run_id, problem_key, position)
        self.display.search_started(problem_key)

    def recorded_calls(self, run_id: str, problem_key: str, iteration: int) -> dict[int, RecordedCall]:
        """The search asks this first thing in each iteration, before it samples."""
        recorded = super().recorded_calls(run_id, problem_key, iteration)
        replayed = {s for s, call in recorded.items() if call.ok}
        self.display.iteration_started(problem_key, iteration, self.samples, replayed)
        return recorded

    def record_call(
        self,
        run_id: str,
        problem_key: str,
        iteration: int,
        sample: int,
        messages: list[Message],
        params: dict[str, Any],
        completion: Completion | None,
        error: str | None,
    ) -> None:
        super().record_call(run_id, problem_key, iteration, sample, messages, params, completion, error)
        self.display.sampled(problem_key, iteration, sample, completion is not None)

    def record_hypothesis(
        self, run_id: str, problem_key: str, sample: int, hypothesis: Hypothesis, verdict: Verdict
    ) -> None:
        super().record_hypothesis(run_id, problem_key, sample, hypothesis, verdict)
        self.display.verified(problem_key, hypothesis.iteration, sample, verdict)

    def finish_search(self, run_id: str, problem_key: str, **kw: Any) -> None:
        super().finish_search(run_id, problem_key, **kw)
        self.display.search_finished(problem_key)
