"""Benchmark of the reward evaluator: seconds per candidate evaluation (3 seeds) and the baselines' scores.

For every reward task it evaluates the two baselines (sparse success-only, and the environment's own reward)
through the real sandbox on the search seeds and on the held-out seeds, and records the wall time of each
evaluation. Target: <= 10 s per candidate for 3 seeds on the 2-core machine. Results go to
bench/RESULTS.md under "## Reward evaluator".

    .venv/bin/python bench/bench_reward.py [--tasks mountaincar,pendulum,acrobot] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from results_md import machine_line, write_section

from agent.kernel.types import Hypothesis
from sandboxes import close_sandbox, get_sandbox
from tasks.reward.problems import HELD_OUT_SEEDS, PROBLEMS, SEARCH_SEEDS
from verifiers.reward.evaluator import RewardEvaluator

HEADING = "## Reward evaluator"


async def bench(tasks: list[str]) -> list[str]:
    sandbox = await get_sandbox()
    rows = [
        "| task | reward | seeds | mean success | per seed | wall s | training CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    walls: list[float] = []
    cpus: list[float] = []
    try:
        for key in tasks:
            problem = PROBLEMS[key]
            for label, seeds in (("search", SEARCH_SEEDS), ("held-out", HELD_OUT_SEEDS)):
                ev = RewardEvaluator(problem, seeds=seeds, sandbox=sandbox)
                for name, source in (("env", problem.env_reward), ("sparse", problem.sparse_reward)):
                    started = time.monotonic()
                    verdict = await ev.verify(Hypothesis.create(source))
                    wall = time.monotonic() - started
                    walls.append(wall)
                    per_seed = " ".join(
                        f"{verdict.metrics.get(f'success_seed_{s}', float('nan')):.2f}" for s in seeds
                    )
                    score = "-" if verdict.score is None else f"{verdict.score:.3f}"
                    cpu = verdict.metrics.get("train_cpu_s", float("nan"))
                    cpus.append(cpu)
                    rows.append(
                        f"| {key} | {name} | {label} {list(seeds)} | {score} | {per_seed} | {wall:.1f} "
                        f"| {cpu:.1f} |"
                    )
                    print(rows[-1], flush=True)
    finally:
        await close_sandbox()
    head = [
        machine_line(sandbox),
        f"Seconds per candidate evaluation (3 seeds, sandbox round trip + training + host scoring): "
        f"mean {sum(walls) / len(walls):.1f}, max {max(walls):.1f} (target <= 10); training CPU seconds "
        f"(all seeds, inside the job) mean {sum(cpus) / len(cpus):.1f}, max {max(cpus):.1f}. Wall "
        "time exceeds CPU time when other work shares the 2 cores (see the load average above).",
        "",
    ]
    return head + rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", default=",".join(PROBLEMS))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = asyncio.run(bench([t.strip() for t in args.tasks.split(",") if t.strip()]))
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
