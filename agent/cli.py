"""The `assay` command line.

Every error assay raises on purpose (`AssayError`) is printed as one line with a non-zero exit; a traceback
reaching the user is a bug.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from agent.kernel.errors import AssayError
from agent.kernel.plugins import list_tasks
from agent.run.config import DEFAULT_DB, RunConfig, build_config, read_config_file
from agent.run.progress import ProgressDisplay
from agent.run.runner import RunResult, execute, load_stored_config, prepare
from agent.search.strategies import STRATEGIES
from agent.store.sqlite import Store

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Verifier-driven agentic search.")
out = Console(soft_wrap=True)

DbOption = Annotated[Path, typer.Option("--db", help="run store (SQLite); env ASSAY_DB")]


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
            raise AssayError(
                f"the '{name}' package {where}: install assay in its own virtual environment"
            )


@app.command("tasks")
def tasks_command() -> None:
    """List the built-in tasks."""
    for entry in list_tasks():
        out.print(f"[bold]{entry.name:28}[/bold] {entry.description}")
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
    completion_tokens: Annotated[int | None, typer.Option(help="max tokens per completion")] = None,
    iterations: Annotated[int | None, typer.Option(help="max iterations per problem")] = None,
    max_calls: Annotated[int | None, typer.Option(help="max LLM calls per problem")] = None,
    token_budget: Annotated[int | None, typer.Option(help="max tokens per problem")] = None,
    max_cost: Annotated[float | None, typer.Option(help="max USD per problem")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="max wall-clock minutes per problem")] = None,
    target: Annotated[float | None, typer.Option(help="stop when the best score reaches this")] = None,
    patience: Annotated[int | None, typer.Option(help="stop after this many iterations without gain")] = None,
    min_delta: Annotated[float | None, typer.Option(help="smallest gain that counts for --patience")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    db: DbOption = DEFAULT_DB,
    config: Annotated[Path | None, typer.Option("--config", help="YAML or TOML run config")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON result on stdout")] = False,
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
        "max_iterations": iterations,
        "max_calls": max_calls,
        "max_tokens": token_budget,
        "max_cost_usd": max_cost,
        "max_seconds": None if max_minutes is None else max_minutes * 60,
        "target_score": target,
        "patience": patience,
        "min_delta": min_delta,
    }
    run_config = build_config(file_values, flags)
    _run(run_config, db, run_id=None, as_json=as_json)


@app.command("resume")
def resume_command(
    run: Annotated[str, typer.Argument(help="run id (or a unique prefix)")],
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Continue a run that was stopped or killed, without redoing finished work."""
    with Store(db) as store:
        run_id, config = load_stored_config(store, run)
    _run(config, db, run_id=run_id, as_json=as_json)


def _run(config: RunConfig, db: Path, *, run_id: str | None, as_json: bool) -> None:
    prepared = prepare(config)
    with Store(db) as store, ProgressDisplay() as progress:
        result = asyncio.run(execute(prepared, store, run_id=run_id, on_progress=progress))
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        _print_result(result)


def _print_result(result: RunResult) -> None:
    for o in result.to_json()["problems"]:
        held = o["held_out"]
        held_text = "-" if held is None else f"{held['status']} (score {held['score']})"
        out.print(
            f"[bold]{o['problem']}[/bold]: best score {o['best_score']} ({o['best_status']}), "
            f"held-out {held_text}, stopped: {o['stop_reason']} — {o['stop_detail']}"
        )
        if o["best_hypothesis"] is not None:
            out.print(o["best_hypothesis"].rstrip(), markup=False, highlight=False)
    held_rate = result.held_out_solve_rate
    out.print(
        f"run {result.run_id}: solved {result.solve_rate:.0%} of {len(result.outcomes)} problem(s) "
        "on the search verifier" + ("" if held_rate is None else f", {held_rate:.0%} on the held-out check")
    )


@app.command("runs")
def runs_command(db: DbOption = DEFAULT_DB) -> None:
    """List recorded runs, newest first."""
    with Store(db) as store:
        rows = store.list_runs()
    if not rows:
        out.print(f"no runs in {db}")
    for row in rows:
        config = json.loads(row["config_json"])
        summary = json.loads(row["summary_json"]) if row["summary_json"] else {}
        solved = summary.get("solve_rate")
        solved_text = "" if solved is None else f" solved {solved:.0%}"
        out.print(f"{row['id']}  {row['status']:11} {row['task']:24} {config.get('model')}{solved_text}")


@app.command("show")
def show_command(
    run: Annotated[str, typer.Argument(help="run id (or a unique prefix)")],
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a run: config, stop reasons, best hypotheses and score history."""
    with Store(db) as store:
        run_id, config = load_stored_config(store, run)
        row = store.get_run(run_id)
        assert row is not None
        problems = []
        for search in store.searches(run_id):
            key = search["problem_key"]
            entries = store.hypotheses(run_id, key)
            best = next((e for e in entries if e.hypothesis.id == search["best_hypothesis_id"]), None)
            problems.append(
                {
                    "problem": key,
                    "status": search["status"],
                    "stop_reason": search["stop_reason"],
                    "stop_detail": search["stop_detail"],
                    "best_score": search["best_score"],
                    "best_status": search["best_status"],
                    "best_hypothesis": best.hypothesis.content if best else None,
                    "held_out": json.loads(search["held_out_json"]) if search["held_out_json"] else None,
                    "hypotheses": len(entries),
                    "history": [
                        {"iteration": it["iteration"], "best_score": it["best_score"], "calls": it["calls"]}
                        for it in store.iterations(run_id, key)
                    ],
                }
            )
    shown = {
        "run_id": run_id,
        "status": row["status"],
        "config": config.model_dump(mode="json"),
        "problems": problems,
    }
    if as_json:
        print(json.dumps(shown))
        return
    out.print(f"[bold]run {run_id}[/bold] ({row['status']})")
    out.print(json.dumps(shown["config"], indent=2), markup=False, highlight=False)
    for p in problems:
        history = " ".join(f"{h['iteration']}:{h['best_score']}" for h in p["history"]) or "-"
        out.print(
            f"[bold]{p['problem']}[/bold] {p['status']} stop={p['stop_reason']} best={p['best_score']} "
            f"({p['best_status']}) hypotheses={p['hypotheses']} history {history}"
        )
        if p["best_hypothesis"]:
            out.print(p["best_hypothesis"].rstrip(), markup=False, highlight=False)


def _mount_optional_apps() -> None:
    """`assay sandbox ...` and `assay models ...` live with the packages they manage."""
    from importlib import import_module

    for name, module in (("sandbox", "sandboxes.cli"), ("models", "agent.models.cli")):
        try:
            sub = import_module(module)
        except ImportError:
            continue
        app.add_typer(sub.app, name=name)


def main() -> None:
    _mount_optional_apps()
    try:
        _check_packages()
        app(standalone_mode=False)
    except AssayError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; continue with `assay resume RUN`", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, EOFError):
        sys.exit(1)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
