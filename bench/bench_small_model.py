"""Issue 12 bench: the embedded small model on the reward tasks and loss/noisy-digits, free-form vs scaffold.

Each (task, configuration) is one real CLI run (`assay run TASK --strategy refine --json`, through
bench_refine_local.run_task) with the same number of model calls (samples x iterations) and the same seed.
The configurations: `free` is the task as it is (with the in-scope names and pre-checks of issue 12's scopes
1-2), `scaffold` is its `-scaffold` variant (a skeleton or template to fill in). Reported per run: the share
of the model's candidates that trained (a verdict with a score; a `fail` from a pre-check has none), how the
rest ended, the best held-out score against the environment's reward (reward tasks, from the held-out
verdict) or cross-entropy (loss, through the same held-out verifier), tokens and wall time. Rows are
appended to `--out` as they finish (so a run cut short keeps what it measured) and the table goes to
bench/RESULTS.md under "## Small models: free-form vs scaffold (issue 12)".

    .venv/bin/python bench/bench_small_model.py [--configs scaffold,free] [--samples 1] [--iterations 3]
        [--completion-tokens 768] [--seeds 0] [--no-write] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_refine_local import TASKS, cross_entropy_held_out, fmt, run_task
from results_md import write_section

from agent.models.local_weights import default_model_spec

HEADING = "## Small models: free-form vs scaffold (issue 12)"
GOAL_TRAIN = 0.6
LOSS_MARGIN = 0.05


def variant(task: str, config: str) -> str:
    return f"{task}-scaffold" if config == "scaffold" else task


def row(task: str, config: str, seed: int, result: dict, extra: dict, ce: float | None) -> str:
    """One table row; `ce` is the cross-entropy held-out baseline for loss tasks."""
    (problem,) = result["problems"]
    held = problem["held_out"] or {}
    metrics = held.get("metrics") or {}
    statuses = extra["statuses"]
    written = sum(statuses.values())
    trained = extra["scored"]
    share = trained / written if written else 0.0
    score = held.get("score")
    if task.startswith("loss/"):
        reference, need = ce, (None if ce is None else ce + LOSS_MARGIN)
    else:
        reference = need = metrics.get("baseline_env")
    goal = "-" if score is None or need is None else ("yes" if score >= need else "no")
    ended = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    origin = "seed candidate" if extra["best_is_seed"] else "the model"
    return (
        f"| {task} | {config} | {seed} | {trained}/{written} ({share:.0%}) | {ended} | {fmt(score)} "
        f"| {fmt(reference)} | {goal} | {origin} | {problem['tokens']} | {extra['wall_s']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--configs", default="scaffold,free")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--completion-tokens", type=int, default=768)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default="/tmp/bench_small_model.rows")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", help="a folder to keep the runs' stores in (default: a temporary one)")
    args = parser.parse_args()
    model = default_model_spec()
    if model is None:
        raise SystemExit("no local model installed (bash scripts/install_local_model.sh)")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    rows = [
        "| task | config | seed | candidates that trained | verdicts | held-out | env reward / CE (held-out) "
        "| goal met | best from | tokens | wall s |",
        "|---|---|---:|---|---|---:|---:|---|---|---:|---:|",
    ]
    ce: float | None = None
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for task in args.tasks.split(","):  # task-major: a run cut short still has pairs to compare
            for config in args.configs.split(","):
                for seed in (int(s) for s in args.seeds.split(",")):
                    extra_args = ["--completion-tokens", str(args.completion_tokens)]
                    result, extra = run_task(
                        variant(task, config), args.samples, args.iterations, seed, Path(tmp), extra_args
                    )
                    if task.startswith("loss/") and ce is None:
                        ce = cross_entropy_held_out()
                    rows.append(row(task, config, seed, result, extra, ce))
                    print(rows[-1], flush=True)
                    with out.open("a", encoding="utf-8") as f:
                        f.write(rows[-1] + "\n")
    load_after = os.getloadavg()
    head = [
        f"`bench/bench_small_model.py`: `assay run TASK[-scaffold] --strategy refine "
        f"--samples {args.samples} "
        f"--iterations {args.iterations} --completion-tokens {args.completion_tokens} --seed S` with "
        f"`{model}` ({args.samples * args.iterations} model calls per row), started {started} on "
        f"{os.cpu_count()} vCPU; load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in load_before)} "
        f"before, {'/'.join(f'{x:.1f}' for x in load_after)} after: the machine was shared with other "
        "jobs, so wall times are pessimistic.",
        f"Goals (issue 12): >= {GOAL_TRAIN:.0%} of the model's candidates train (a verdict with a score; a "
        "pre-check's `fail` has none); "
        "held-out >= the environment's reward on reward tasks; noisy-digits held-out >= cross-entropy + "
        f"{LOSS_MARGIN}. `goal met` is the held-out goal. Seed candidates (the loss task's known losses) are "
        "not counted among the model's candidates.",
        "",
    ]
    lines = head + rows
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    sys.exit(main())
