"""Loss evaluator benchmark: seconds per candidate (3 seeds) and the reference losses' scores.

Runs every known loss through the real search and held-out verifiers of `loss/noisy-digits` and
`loss/preference` in the chosen sandbox, and prints a markdown table: search score, held-out score, the job's
wall and CPU seconds (torch import + gate + 3 trainings) and the verifier's total seconds (with host grading).

    .venv/bin/python bench/bench_loss.py [--sandbox process|docker] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig
from tasks.loss import known_losses as K
from tasks.loss import noisy_digits_task, preference_task

CASES = {
    "loss/noisy-digits": [
        ("cross-entropy", K.CROSS_ENTROPY),
        ("label smoothing 0.1", K.LABEL_SMOOTHING),
        ("focal (gamma 2)", K.FOCAL),
        ("GCE (q 0.7)", K.GCE),
        ("MAE", K.MAE),
    ],
    "loss/preference": [
        ("DPO", K.DPO),
        ("IPO", K.IPO),
        ("hinge (SLiC)", K.HINGE),
        ("DiscoPOP (LRML)", K.DISCOPOP),
    ],
}


async def bench(sandbox: Sandbox, repeat: int) -> None:
    builders = {"loss/noisy-digits": noisy_digits_task.build, "loss/preference": preference_task.build}
    print("| task | loss | search score | held-out score | job wall s | job CPU s | verify s (median) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, cases in CASES.items():
        task = builders[name](sandbox=sandbox)
        assert task.held_out is not None
        for label, source in cases:
            h = Hypothesis.create(source)
            walls: list[float] = []
            cpus: list[float] = []
            totals: list[float] = []
            for _ in range(repeat):
                job = task.verifier.job(source)
                start = time.monotonic()
                result = await sandbox.run(job)
                walls.append(result.wall_s)
                cpus.append(result.cpu_s)
                verdict = task.verifier.judge(result)
                totals.append(time.monotonic() - start)
            held = await task.held_out.verify(h)
            score = "-" if verdict.score is None else f"{verdict.score:.3f} ({verdict.status.value})"
            held_score = "-" if held.score is None else f"{held.score:.3f}"
            print(
                f"| {name} | {label} | {score} | {held_score} | {statistics.median(walls):.2f} | "
                f"{statistics.median(cpus):.2f} | {statistics.median(totals):.2f} |",
                flush=True,
            )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sandbox", choices=["process", "docker"], default="process")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    config = DockerSandboxConfig(memory_mb=1024) if args.sandbox == "docker" else ProcessSandboxConfig()
    sandbox = config.build()
    print(f"sandbox: {args.sandbox}; load average before: {os.getloadavg()[0]:.1f}")
    try:
        await bench(sandbox, args.repeat)
    finally:
        await sandbox.close()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
