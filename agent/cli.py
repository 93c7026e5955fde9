"""The `assay` command line.

Every error assay raises on purpose (`AssayError`) is printed as one line with a non-zero exit; a traceback
reaching the user is a bug. What the store could not read (a corrupt row, skipped; a bad value, replaced)
is said on stderr, one `note:` line each, and the command goes on with the rest. JSON output is strict JSON:
a NaN or infinite metric is the string "NaN", "Infinity" or "-Infinity", as the store keeps it.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from agent.kernel.errors import AssayError, ConfigError
from agent.kernel.plugins import list_tasks
from agent.kernel.types import jsonable
from agent.run.config import DEFAULT_DB, RunConfig, build_config, executor_flags, read_config_file
from agent.run.interrupt import leave, run_interruptibly
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
from agent.run.progress import ObservedStore, ProgressDisplay
from agent.run.runner import RunResult, execute, load_stored_config, prepare, resumed_config
from agent.search.strategies import STRATEGIES
from agent.store.sqlite import Store

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Verifier-driven agentic search.")
out = Console(soft_wrap=True)

DbOption = Annotated[Path, typer.Option("--db", help="run store (SQLite); env ASSAY_DB")]
RequestTimeoutOption = Annotated[
    float | None, typer.Option("--request-timeout", help="seconds one model request may take")
]
PriceInOption = Annotated[
    float | None, typer.Option(help="USD per million prompt tokens, for a model without a known price")
]
PriceOutOption = Annotated[float | None, typer.Option(help="USD per million completion tokens")]
#: `note:` lines printed for one command at most; the rest are counted
MAX_NOTES_SHOWN = 20


def _dumps(value: Any) -> str:
    return json.dumps(jsonable(value), allow_nan=False)


def _print_notes(notes: list[str]) -> None:
    """What the store skipped or replaced while reading, on stderr so stdout stays the command's output."""
    for line in notes[:MAX_NOTES_SHOWN]:
        print(f"note: {line}", file=sys.stderr)
    if len(notes) > MAX_NOTES_SHOWN:
        print(f"note: ... and {len(notes) - MAX_NOTES_SHOWN} more unreadable values", file=sys.stderr)


def _check_packages() -> None:
    """Our top-level package names are generic; refuse to run against someone else's `verifiers` (or
    `tasks`, `sandboxes`): each must sit beside this `agent` package, as one installation puts them."""
    import importlib.util

    home = Path(__file__).resolve().parent.parent
    for name in ("verifiers", "sandboxes", "tasks"):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or origin.parent.parent != home:
            where = "is missing" if origin is None else f"at {origin.parent} is not assay's"
            raise AssayError(f"the '{name}' package {where}: install assay in its own virtual environment")


@app.command("tasks")
def tasks_command() -> None:
    """List the tasks, each with whether this machine can judge it: a host-side check of the packages its
    grader imports (the sandbox's need a probe job, which `assay run` makes before its first call)."""
    from agent.run.needs import entry_readiness

    for entry in list_tasks():
        out.print(f"[bold]{entry.name:28}[/bold] {entry.description}")
        out.print(f"{'':28}   {entry_readiness(entry)}", markup=False, highlight=False)
    out.print("\nStrategies: " + ", ".join(STRATEGIES))


@app.command("run")
def run_command(
    task: Annotated[
        str | None, typer.Argument(help="task name, e.g. math/antiderivative (see `assay tasks`)")
    ] = None,
    problems: Annotated[str | None, typer.Option(help="problems to run: 3, 0-9, 0,2,5-7 or all")] = None,
    model: Annotated[
        str | None, typer.Option(help="openai/<m>, anthropic/<m>, litellm/<p>/<m>, local/<m>")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")] = None,
    strategy: Annotated[str | None, typer.Option(help="best-of-n, refine or evolve")] = None,
    samples: Annotated[int | None, typer.Option(help="hypotheses sampled per iteration")] = None,
    top_k: Annotated[int | None, typer.Option(help="earlier attempts shown in each prompt")] = None,
    temperature: Annotated[float | None, typer.Option()] = None,
    completion_tokens: Annotated[int | None, typer.Option(help="max tokens of one completion")] = None,
    iterations: Annotated[int | None, typer.Option(help="max iterations per problem")] = None,
    calls: Annotated[int | None, typer.Option(help="max LLM calls per problem")] = None,
    tokens: Annotated[int | None, typer.Option(help="max tokens per problem (prompts + completions)")] = None,
    cost_usd: Annotated[float | None, typer.Option(help="max USD per problem")] = None,
    minutes: Annotated[float | None, typer.Option(help="max wall-clock minutes per problem")] = None,
    target: Annotated[float | None, typer.Option(help="stop when the best score reaches this")] = None,
    patience: Annotated[int | None, typer.Option(help="stop after this many iterations without gain")] = None,
    min_delta: Annotated[float | None, typer.Option(help="smallest gain that counts for --patience")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    sandbox: Annotated[
        str | None,
        typer.Option(help="where candidate code runs: docker (default) or process (NOT isolated)"),
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="where verifications run: local (default) or ray (a Ray cluster)")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="the Ray cluster's HOST:PORT (implies --executor ray)")
    ] = None,
    loop: Annotated[
        str | None, typer.Option(help="generational (default) or pipelined (steady state, issue 16)")
    ] = None,
    seed_program: Annotated[
        Path | None,
        typer.Option(help="a starting program: verified first, then shown as the parent to improve"),
    ] = None,
    db: DbOption = DEFAULT_DB,
    config: Annotated[Path | None, typer.Option("--config", help="YAML or TOML run config")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON result on stdout")] = False,
    request_timeout: RequestTimeoutOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    selection: SelectionOption = None,
    repair: RepairOption = None,
    halving_top: HalvingTopOption = None,
    model_split: ModelSplitOption = None,
    n_per_request: NPerRequestOption = None,
    retry_window: RetryWindowOption = None,
    max_calls: Annotated[int | None, typer.Option(hidden=True)] = None,  # earlier names of budget flags
    token_budget: Annotated[int | None, typer.Option(hidden=True)] = None,
    max_cost: Annotated[float | None, typer.Option(hidden=True)] = None,
    max_minutes: Annotated[float | None, typer.Option(hidden=True)] = None,
) -> None:
    """Search for solutions of a task's problems."""
    file_values = read_config_file(config) if config else {}
    flags: dict[str, Any] = {
        "task": task,
        "problems": problems,
        "model": model,
        "base_url": base_url,
        "strategy": strategy,
        "samples": samples,
        "top_k": top_k,
        "temperature": temperature,
        "completion_tokens": completion_tokens,
        "seed": seed,
        "sandbox": sandbox,
        "executor": executor_flags(executor, ray_address),
        "loop": loop,
        "iterations": iterations,
        "calls": _one_of("--calls", calls, "--max-calls", max_calls),
        "tokens": _one_of("--tokens", tokens, "--token-budget", token_budget),
        "cost_usd": _one_of("--cost-usd", cost_usd, "--max-cost", max_cost),
        "minutes": _one_of("--minutes", minutes, "--max-minutes", max_minutes),
        "target": target,
        "patience": patience,
        "min_delta": min_delta,
        "seed_program": None if seed_program is None else _read_program(seed_program),
        "request_timeout_s": request_timeout,
        "price_in": price_in,
        "price_out": price_out,
        **search_flags(selection, repair, halving_top, model_split),
        **model_flags(n_per_request, retry_window),
    }
    run_config = build_config(file_values, flags)
    _run(run_config, db, run_id=None, as_json=as_json)


def _read_program(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--seed-program: cannot read {path}: {e}") from None
    if not text.strip():
        raise ConfigError(f"--seed-program: {path} is empty")
    return text


def _one_of(flag: str, value: Any, old_flag: str, old_value: Any) -> Any:
    """A budget flag or its earlier name (still accepted, hidden from --help); both at once is ambiguous."""
    if value is not None and old_value is not None:
        raise ConfigError(f"{old_flag} is the earlier name of {flag}: give only {flag}")
    return value if value is not None else old_value


@app.command("resume")
def resume_command(
    run: Annotated[str, typer.Argument(help="run id (or a unique prefix)")],
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    iterations: Annotated[int | None, typer.Option(help="new max iterations per problem")] = None,
    calls: Annotated[int | None, typer.Option(help="new max LLM calls per problem")] = None,
    tokens: Annotated[int | None, typer.Option(help="new max tokens per problem")] = None,
    cost_usd: Annotated[float | None, typer.Option(help="new max USD per problem")] = None,
    minutes: Annotated[float | None, typer.Option(help="new max wall-clock minutes per problem")] = None,
    target: Annotated[float | None, typer.Option(help="new target score")] = None,
    patience: Annotated[int | None, typer.Option(help="new patience")] = None,
    min_delta: Annotated[float | None, typer.Option(help="new smallest gain for --patience")] = None,
    base_url: Annotated[str | None, typer.Option(help="another OpenAI-compatible server URL")] = None,
    ray_address: Annotated[str | None, typer.Option(help="the Ray cluster's new HOST:PORT")] = None,
    request_timeout: RequestTimeoutOption = None,
    price_in: PriceInOption = None,
    price_out: PriceOutOption = None,
    retry_window: RetryWindowOption = None,
) -> None:
    """Continue a run that was stopped or killed, without redoing finished work, with its recorded config
    (search settings, budget, sandbox and the task's module). A budget flag replaces that limit (a larger
    one lets finished searches go on); the changed config is recorded with the run."""
    changes = {
        "iterations": iterations, "calls": calls, "tokens": tokens, "cost_usd": cost_usd,
        "minutes": minutes, "target": target, "patience": patience, "min_delta": min_delta,
        "base_url": base_url, "request_timeout_s": request_timeout, "price_in": price_in,
        "price_out": price_out, "ray_address": ray_address, "retry_window_s": retry_window,
    }  # fmt: skip
    with Store(db) as store:
        try:
            run_id, config = load_stored_config(store, run)
            config = resumed_config(store, run_id, config, changes)
        finally:
            _print_notes(store.notes)
    _run(config, db, run_id=run_id, as_json=as_json)


def _run(config: RunConfig, db: Path, *, run_id: str | None, as_json: bool) -> None:
    prepared = prepare(config, resuming=run_id is not None)
    for warning in prepared.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    started: list[str] = [run_id] if run_id else []
    try:
        with ProgressDisplay() as progress, ObservedStore(db, progress, samples=config.samples) as store:
            progress.cost_known = prepared.cost_known
            try:
                result = run_interruptibly(
                    execute(prepared, store, run_id=run_id, on_progress=progress, on_start=started.append)
                )
            finally:
                _print_notes(store.notes)
    except KeyboardInterrupt:  # the run is recorded as interrupted by then (execute's finally)
        print(INTERRUPTED.replace("RUN", started[-1] if started else "RUN"), file=sys.stderr)
        raise typer.Exit(130) from None
    if as_json:
        print(_dumps(result.to_json()))
    else:
        _print_result(result)


def _print_result(result: RunResult) -> None:
    for o in result.to_json()["problems"]:
        held = o["held_out"]
        held_text = "-" if held is None else f"{held['status']} (score {held['score']})"
        if not result.has_held_out:
            held_text = "none (the task has no held-out check)"
        out.print(
            f"[bold]{o['problem']}[/bold]: best score {o['best_score']} ({o['best_status']}), "
            f"held-out {held_text}, stopped: {o['stop_reason']} — {o['stop_detail']}"
        )
        if o["best_hypothesis"] is not None:
            out.print(o["best_hypothesis"].rstrip(), markup=False, highlight=False)
    held_rate = result.held_out_solve_rate
    held_text = "" if held_rate is None else f", {held_rate:.0%} on the held-out check"
    if not result.has_held_out:
        held_text = "; this task has no held-out check"
    out.print(
        f"run {result.run_id}: solved {result.solve_rate:.0%} of {len(result.outcomes)} problem(s) "
        "on the search verifier" + held_text
    )


@app.command("runs")
def runs_command(
    db: DbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option(min=1, help="runs per page")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="skip this many newest runs")] = 0,
) -> None:
    """List recorded runs, newest first: date, duration, calls, cost, best score (read-only)."""
    from agent.view.listing import runs_lines

    lines, notes = runs_lines(db, limit=limit, offset=offset)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    _print_notes(notes)


@app.command("view")
def view_command(
    db: DbOption = DEFAULT_DB,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8765,
) -> None:
    """Browse the runs in a local web app (127.0.0.1 only); it only reads the store and refreshes live."""
    from agent.view.server import serve

    serve(db, port)


@app.command("report")
def report_command(
    run: Annotated[str, typer.Argument(help="run id or bench id (or a unique prefix)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the HTML file to write")] = Path(
        "report.html"
    ),
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write one run (or an `assay bench`) as a self-contained HTML file (plots inline) that opens without
    a network."""
    from agent.view.report import write_report

    shown = write_report(db, run, output)
    out.print(
        f"wrote {output} ({'bench' if shown.startswith('bench-') else 'run'} {shown})",
        markup=False,
        highlight=False,
    )


@app.command("show")
def show_command(
    run: Annotated[str, typer.Argument(help="run id (or a unique prefix)")],
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a run: config, stop reasons, best hypotheses and score history."""
    with Store(db, read_only=True) as store:
        try:
            shown = _shown_run(store, run)
        finally:
            _print_notes(store.notes)
        shown["notes"] = store.notes
    if as_json:
        print(_dumps(shown))
        return
    out.print(f"[bold]run {shown['run_id']}[/bold] ({shown['status']})", highlight=False)
    out.print(json.dumps(jsonable(shown["config"]), indent=2), markup=False, highlight=False)
    for p in shown["problems"]:
        history = " ".join(f"{h['iteration']}:{h['best_score']}" for h in p["history"]) or "-"
        metrics = " ".join(f"{k}={v}" for k, v in (p["best_metrics"] or {}).items())
        out.print(
            f"{p['problem']} {p['status']} stop={p['stop_reason']} best={p['best_score']} "
            f"({p['best_status']}) hypotheses={p['hypotheses']} history {history}"
            + (f" metrics {metrics}" if metrics else ""),
            markup=False,
            highlight=False,
        )
        out.print(_show_details(p), markup=False, highlight=False)
        if p["best_hypothesis"]:
            out.print(p["best_hypothesis"].rstrip(), markup=False, highlight=False)


def _shown_run(store: Store, run: str) -> dict[str, Any]:
    """The run as `show` prints it. Its config is shown even when it no longer validates (then as stored,
    with a note): showing a run must not depend on being able to resume it."""
    row = store.get_run(run)
    if row is None:
        raise ConfigError(f"no run {run!r} in {store.path} (see `assay runs`)")
    try:
        config: dict[str, Any] | None = load_stored_config(store, row.id)[1].model_dump(mode="json")
    except ConfigError as e:
        store.note(str(e))
        config = row.config or None
    problems = []
    for search in store.searches(row.id):
        key = search.problem_key
        entries = store.hypotheses(row.id, key)
        best = next((e for e in entries if e.hypothesis.id == search.best_hypothesis_id), None)
        problems.append(
            {
                "problem": key,
                "status": search.status,
                "stop_reason": search.stop_reason.value if search.stop_reason else None,
                "stop_detail": search.stop_detail,
                "best_score": search.best_score,
                "best_status": search.best_status.value if search.best_status else None,
                "best_hypothesis": best.hypothesis.content if best else None,
                "best_metrics": best.verdict.metrics if best else None,
                "held_out": search.held_out.model_dump(mode="json") if search.held_out else None,
                "hypotheses": len(entries),
                **_problem_extras(store, row.id, search),
                "history": [
                    {"iteration": it.iteration, "best_score": it.best_score, "calls": it.calls}
                    for it in store.iterations(row.id, key)
                ],
            }
        )
    return {"run_id": row.id, "status": row.status, "config": config, "problems": problems}


def _problem_extras(store: Store, run_id: str, search: Any) -> dict[str, Any]:
    """What `show` adds per problem beside the search's result: spend, time and the problem statement."""
    from agent.store.queries import statement_from_calls

    spend = store.spend(run_id, search.problem_key)
    statement = statement_from_calls(store.calls(run_id, search.problem_key))
    return {"calls": spend.calls, "tokens": spend.tokens, "cost_usd": spend.cost_usd,
            "elapsed_s": search.elapsed_s, "statement": statement}  # fmt: skip


def _show_details(p: dict[str, Any]) -> str:
    """The text lines of `show` for one problem's held-out result, spend, time and statement."""
    held = p["held_out"]
    held_text = "-" if held is None else f"{held['status']} (score {held['score']}): {held['feedback']}"
    statement = (p.get("statement") or "-").strip()
    return (
        f"  held-out: {held_text}\n"
        f"  calls {p['calls']}  tokens {p['tokens']}  cost ${p['cost_usd']:.4f}  time {p['elapsed_s']:.1f}s\n"
        "  problem: " + statement.replace("\n", "\n           ")
    )


def _mount_optional_apps() -> None:
    """`assay sandbox ...`, `assay models ...` and `assay bench` live with the packages they manage."""
    from importlib import import_module

    for name, module in (("sandbox", "sandboxes.cli"), ("models", "agent.models.cli")):
        try:
            sub = import_module(module)
        except ImportError:
            continue
        app.add_typer(sub.app, name=name)
    from agent.bench.cli import bench_command  # in its own package: it is a grid of runs, not a run

    app.command("bench")(bench_command)


def _usage_errors() -> tuple[type[Exception], ...]:
    """The usage errors of the click that typer parses with: typer >= 0.2x ships its own copy (whose
    exceptions are not `click.ClickException`), earlier ones use click's. Both, where both exist."""
    found: list[type[Exception]] = []
    vendored = getattr(typer, "_click", None)
    if vendored is not None:
        found.append(vendored.exceptions.ClickException)
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


USAGE_ERRORS = _usage_errors()


def _usage_line(error: Exception) -> str:
    """`error: No such option: --sample (try `assay run --help`)`: the message without the usage box."""
    message = error.format_message() if hasattr(error, "format_message") else str(error)
    ctx = getattr(error, "ctx", None)
    where = getattr(ctx, "command_path", None) or "assay"
    return "error: " + " ".join(str(message).split()) + f" (try `{where} --help`)"


INTERRUPTED = "interrupted: finished work is saved; continue with `assay resume RUN` (see `assay runs`)"


def main() -> None:
    """The console script: every AssayError is one line and exit 2, Ctrl-C is one line and exit 130."""
    _mount_optional_apps()
    try:
        _check_packages()
        # typer, outside standalone mode, returns the exit code of a typer.Exit (and turns a Ctrl-C inside
        # a command into Exit(130)) instead of raising it
        code = app(standalone_mode=False)
    except AssayError as e:
        print("error: " + " ".join(str(e).splitlines()), file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))  # 3: a run that stopped before it completed
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        leave(130)
    except typer.Exit as e:
        leave(e.exit_code)  # after Ctrl-C: without waiting for a thread still blocked in a request
    except (typer.Abort, EOFError):
        sys.exit(1)
    except sqlite3.Error as e:  # a reader's query on a damaged store (random bytes in a page)
        print(f"error: the run store cannot be read: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(2)
    except USAGE_ERRORS as e:  # a misspelt flag, a bad value: one line, exit 2
        print(_usage_line(e), file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2) or 2)
    if isinstance(code, int) and code:
        leave(code)


if __name__ == "__main__":
    main()
