"""`refine` with the embedded local model on the reward tasks and loss/noisy-digits, against the baselines.

Each task runs through the real CLI (`assay run TASK --strategy refine --json`) in a subprocess, exactly as a
user would, with a fresh SQLite store. The report per task: the best search score, its held-out score, the
baselines on the same held-out seeds (reward: the environment's own reward and the sparse success-only reward,
from the held-out verdict; loss: cross-entropy through the same held-out verifier), how the candidates ended
(ok / fail / invalid / error / timeout) and the time and tokens spent. Results go to bench/RESULTS.md under
"## Refine with the local model".

    .venv/bin/python bench/bench_refine_local.py [--tasks reward/mountaincar,...] [--samples 2]
        [--iterations 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from results_md import write_section

from agent.kernel.types import Hypothesis
from agent.models.local_weights import default_model_spec
from agent.store.sqlite import Store

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Refine with the local model"
TASKS = ("reward/mountaincar", "reward/pendulum", "reward/acrobot", "loss/noisy-digits")


def run_task(
    task: str, samples: int, iterations: int, seed: int, workdir: Path, extra_args: Sequence[str] = ()
) -> tuple[dict, dict]:
    """One CLI run of `task` (plus `extra_args`) with a fresh store; its JSON result and a summary."""
    db = workdir / f"{task.replace('/', '_')}-{seed}.db"
    cmd = [
        sys.executable,
        "-m",
        "agent.cli",
        "run",
        task,
        "--problems",
        "0",
        "--strategy",
        "refine",
        "--samples",
        str(samples),
        "--iterations",
        str(iterations),
        "--seed",
        str(seed),
        "--db",
        str(db),
        "--json",
        *extra_args,
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{task}: assay exited {proc.returncode}\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout)
    (problem,) = result["problems"]
    with Store(db) as store:  # the typed records, so the bench survives schema migrations
        entries = store.hypotheses(result["run_id"], problem["problem"])
        history = store.iterations(result["run_id"], problem["problem"])
    written = [e for e in entries if e.hypothesis.model != "seed"]
    statuses = collections.Counter(e.verdict.status.value for e in written)
    # trained: a score. Not "ok or fail": a pre-check that stops a candidate before training is `fail`
    # with no score (a wrong return type), and counting it as trained overstated the share (stop 25)
    scored = sum(1 for e in written if e.verdict.score is not None)
    seeds = len(entries) - len(written)
    best_written = max((e.verdict.score for e in written if e.verdict.score is not None), default=None)
    best_is_seed = any(
        e.hypothesis.model == "seed" and e.hypothesis.id == problem["best_hypothesis_id"] for e in entries
    )
    per_iteration = [(it.iteration, it.iteration_best) for it in history]
    return result, {
        "wall_s": wall,
        "statuses": dict(statuses),
        "scored": scored,
        "per_iteration": per_iteration,
        "seeds": seeds,
        "best_written": best_written,
        "best_is_seed": best_is_seed,
    }


def cross_entropy_held_out() -> float | None:
    """Cross-entropy through loss/noisy-digits' own held-out verifier (the loss baseline)."""
    from agent.kernel.plugins import load_suite
    from sandboxes import close_sandbox
    from tasks.loss import known_losses

    async def go() -> float | None:
        task = load_suite("loss/noisy-digits").problems[0]
        assert task.held_out is not None
        try:
            verdict = await task.held_out.verify(Hypothesis.create(known_losses.CROSS_ENTROPY))
        finally:
            await close_sandbox()
        return verdict.score

    return asyncio.run(go())


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", default="", help="keep the run stores in this folder")
    args = parser.parse_args()
    model = default_model_spec()
    if model is None:
        raise SystemExit("no local model installed (bash scripts/install_local_model.sh)")
    load_before = os.getloadavg()[0]
    rows = [
        "| task | best search score | held-out score | env reward (held-out) | sparse reward (held-out) "
        "| cross-entropy (held-out) | >= baseline | per-iteration best | model's candidates | best from "
        "| tokens | wall s |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---|---:|---:|",
    ]
    ce: float | None = None
    keep = Path(args.keep) if args.keep else None
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            where = keep or Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            result, extra = run_task(task, args.samples, args.iterations, args.seed, where)
            (problem,) = result["problems"]
            held = problem["held_out"] or {}
            metrics = held.get("metrics") or {}
            env = metrics.get("baseline_env")
            sparse = metrics.get("baseline_sparse")
            if task.startswith("loss/"):
                ce = cross_entropy_held_out() if ce is None else ce
                reference = ce
            else:
                reference = env
            score = held.get("score")
            beats = "-" if score is None or reference is None else ("yes" if score >= reference else "no")
            iters = " ".join(fmt(b) for _, b in extra["per_iteration"])
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(extra["statuses"].items()))
            origin = (
                f"seed candidate (model's best: {fmt(extra['best_written'])})"
                if extra["best_is_seed"]
                else "the model"
            )
            rows.append(
                f"| {task} | {fmt(problem['best_score'])} | {fmt(score)} | {fmt(env)} | {fmt(sparse)} "
                f"| {fmt(ce if task.startswith('loss/') else None)} | {beats} | {iters} | {statuses} "
                f"| {origin} "
                f"| {problem['tokens']} | {extra['wall_s']:.0f} |"
            )
            print(rows[-1], flush=True)
    head = [
        f"`bench/bench_refine_local.py`: `assay run TASK --strategy refine --samples {args.samples} "
        f"--iterations {args.iterations} --seed {args.seed}` with the embedded model `{model}` (2 threads), "
        f"one problem per task, fresh store, measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"on {os.cpu_count()} vCPU; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(the machine is shared, so wall times are pessimistic).",
        "Held-out: the best search candidate retrained on fresh seeds; the baselines are trained on the same "
        "held-out seeds. `>= baseline`: held-out score >= the environment's own reward (reward tasks) or "
        "cross-entropy (loss). Seed candidates (the task's known losses, iteration 0) count in the "
        "per-iteration best but not among the model's candidates.",
        "",
    ]
    lines = head + rows
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    sys.exit(main())
