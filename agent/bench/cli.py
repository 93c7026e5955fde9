"""`assay bench TASK... --strategies a,b --seeds 0,1 [budget flags]`: strategies compared at one budget.

Mounted on the `assay` app by `agent.cli` (as `sandbox` and `models` are), so `agent.cli` stays small and
this module is imported only when the command exists. Exit codes are `assay run`'s: 0 when every cell's run
finished, 2 for bad input (nothing run), 3 when some cell stopped before completing (rerun the same command
with `--bench-id` to continue it), 130 interrupted.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from agent.bench.summary import BenchSummary, fmt_spread, summarise
from agent.kernel.errors import ConfigError
from agent.kernel.types import jsonable
from agent.run.config import DEFAULT_DB, read_config_file
from agent.run.options import (
    HalvingTopOption,
    ModelSplitOption,
    NPerRequestOption,
    RepairOption,
    RetryWindowOption,
    SelectionOption,
    model_flags,
    search_flags,
)
from agent.store.queries import ReadOnlyStore

out = Console(soft_wrap=True)

INTERRUPTED = "interrupted: finished cells are saved; rerun the same command with --bench-id {id} to continue"


def _csv(flag: str, text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ConfigError(f"{flag}: give a comma-separated list, e.g. best-of-n,refine")
    if len(set(items)) != len(items):
        raise ConfigError(f"{flag}: {text!r} names the same entry twice")
    return items


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in _csv("--seeds", text)]
    except ValueError:
        raise ConfigError(f"--seeds: {text!r} is not a comma-separated list of integers") from None


def new_bench_id() -> str:
    """Sortable by time, like run ids, with a random tail so two benches started together differ."""
    return time.strftime("bench-%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def bench_command(
    tasks: Annotated[list[str] | None, typer.Argument(help="tasks to compare on (see `assay tasks`)")] = None,
    strategies: Annotated[str, typer.Option(help="comma-separated strategies")] = "best-of-n,refine",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds, one run per seed")] = "0,1",
    threshold: Annotated[
        float | None, typer.Option(help="score counted as reached (default: the run's target)")
    ] = None,
    bench_id: Annotated[
        str | None,
        typer.Option("--bench-id", help="name, continue or show a bench: its finished cells are skipped"),
    ] = None,
    problems: Annotated[
        str | None, typer.Option(help="problems of each task: 3, 0-9, 0,2,5-7 or all")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="openai/<m>, anthropic/<m>, litellm/<p>/<m>, local/<m>")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")] = None,
    samples: Annotated[int | None, typer.Option(help="hypotheses sampled per iteration")] = None,
    top_k: Annotated[int | None, typer.Option(help="earlier attempts shown in each prompt")] = None,
    temperature: Annotated[float | None, typer.Option()] = None,
    completion_tokens: Annotated[int | None, typer.Option(help="max tokens of one completion")] = None,
    iterations: Annotated[int | None, typer.Option(help="max iterations per problem")] = None,
    calls: Annotated[int | None, typer.Option(help="max LLM calls per problem")] = None,
    tokens: Annotated[int | None, typer.Option(help="max tokens per problem")] = None,
    cost_usd: Annotated[float | None, typer.Option(help="max USD per problem")] = None,
    minutes: Annotated[float | None, typer.Option(help="max wall-clock minutes per problem")] = None,
    target: Annotated[float | None, typer.Option(help="stop a search when its best reaches this")] = None,
    patience: Annotated[int | None, typer.Option(help="stop after this many iterations without gain")] = None,
    sandbox: Annotated[str | None, typer.Option(help="docker (default) or process (NOT isolated)")] = None,
    db: Annotated[Path, typer.Option("--db", help="run store (SQLite); env ASSAY_DB")] = DEFAULT_DB,
    config: Annotated[Path | None, typer.Option("--config", help="YAML or TOML run config")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
    request_timeout: Annotated[float | None, typer.Option("--request-timeout")] = None,
    price_in: Annotated[float | None, typer.Option(help="USD per million prompt tokens")] = None,
    price_out: Annotated[float | None, typer.Option(help="USD per million completion tokens")] = None,
    selection: SelectionOption = None,
    repair: RepairOption = None,
    halving_top: HalvingTopOption = None,
    model_split: ModelSplitOption = None,
    n_per_request: NPerRequestOption = None,
    retry_window: RetryWindowOption = None,
) -> None:
    """Run a grid of tasks x strategies x seeds at the same budget, each cell a recorded run, and print
    per (task, strategy) the held-out score's mean and 95% interval over seeds, the calls and seconds to
    reach the threshold, and the cost. Without TASKs, `--bench-id` prints a recorded bench. The search
    options (`--selection`, `--repair`, `--halving-top`, `--model-split`, `--n-per-request`,
    `--retry-window`) are `assay run`'s and apply to every cell alike."""
    from agent.bench.grid import BenchPlan, run_bench

    if not tasks:
        if bench_id is None:
            raise ConfigError("give the tasks to bench (e.g. `assay bench math/derivative`), or --bench-id")
        _print_summary(_stored_summary(db, bench_id), as_json)
        return
    flags: dict[str, Any] = {
        "problems": problems, "model": model, "base_url": base_url, "samples": samples, "top_k": top_k,
        "temperature": temperature, "completion_tokens": completion_tokens, "sandbox": sandbox,
        "iterations": iterations, "calls": calls, "tokens": tokens, "cost_usd": cost_usd,
        "minutes": minutes, "target": target, "patience": patience, "request_timeout_s": request_timeout,
        "price_in": price_in, "price_out": price_out,
        **search_flags(selection, repair, halving_top, model_split),
        **model_flags(n_per_request, retry_window),
    }  # fmt: skip
    plan = BenchPlan(
        tasks=_csv("TASK", ",".join(tasks)), strategies=_csv("--strategies", strategies), seeds=_seeds(seeds),
        file_values=read_config_file(config) if config else {}, flags=flags, threshold=threshold,
    )  # fmt: skip
    bench = bench_id or new_bench_id()
    print(f"bench {bench}: {len(plan.tasks)} task(s) x {len(plan.strategies)} strategies x "
          f"{len(plan.seeds)} seeds, store {db}", file=sys.stderr, flush=True)  # fmt: skip
    try:
        run_bench(db, bench, plan)
    except KeyboardInterrupt:
        print(INTERRUPTED.format(id=bench), file=sys.stderr)
        raise typer.Exit(130) from None
    summary = _stored_summary(db, bench)
    _print_summary(summary, as_json)
    if not summary.complete:
        failed = [c for c in summary.cells if c.status != "finished"]
        print(f"bench {bench}: {len(failed)} cell(s) did not finish; rerun with --bench-id {bench} to "
              "continue them", file=sys.stderr)  # fmt: skip
        raise typer.Exit(3)


def _stored_summary(db: Path, bench: str) -> BenchSummary:
    with ReadOnlyStore(db) as store:
        found = store.resolve_bench(bench)
        if found is None:
            raise ConfigError(f"no bench {bench!r} in {db}")
        summary = summarise(store, found, store.bench_cells(found))
        for note in store.notes[:20]:
            print(f"note: {note}", file=sys.stderr)
    return summary


def _print_summary(summary: BenchSummary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(jsonable(summary.to_json()), allow_nan=False))
        return
    header = ("task", "strategy", "runs", "score mean ± 95% CI", "std", "reached", "calls to thr",
              "s to thr", "calls", "cost $", "s/run")  # fmt: skip
    lines = [header]
    for r in summary.rows:
        std = "-" if r.score.std is None else f"{r.score.std:.4g}"
        thr = "-" if r.threshold is None else f"{r.reached}/{r.searches} ≥ {r.threshold:g}"
        cost = "-" if r.cost_usd.mean is None else f"{r.cost_usd.mean:.4f}"
        cost = cost if r.cost_known else "unknown"  # an unpriced model's $0 is not free
        lines.append((
            r.task, r.strategy, f"{r.finished}/{r.seeds}", fmt_spread(r.score) + f" [{r.score_source}]",
            std, thr, fmt_spread(r.calls_to_threshold, 3), fmt_spread(r.seconds_to_threshold, 3),
            fmt_spread(r.calls, 3), cost, fmt_spread(r.seconds, 3),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out.print(f"bench {summary.bench_id}", markup=False, highlight=False)
    for row in lines:
        text = "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        out.print(text.rstrip(), markup=False, highlight=False)
    for c in summary.cells:
        if c.status != "finished":
            out.print(f"{c.task} {c.strategy} seed {c.seed}: {c.status} (run {c.run_id or '-'})"
                      + (f": {c.error}" if c.error else ""), markup=False, highlight=False)  # fmt: skip
