"""Benchmark of the two-level reward search: what tuning a candidate's TUNABLE constants costs and gains.

On `reward/mountaincar`, a sparse goal reward plus energy shaping scaled by `W_SHAPING` is evaluated as
written and with its constant tuned (default budget, trials on the tuning seeds, then the final training on
the search seeds), and both are retrained on the held-out seeds (the tuned one with the tuned value, as the
held-out verifier does). Two declarations: a bad written weight (0, which is the sparse reward) and a good
one on a log-scale range (where tuning should keep it or find an equal one). Results go to
bench/RESULTS.md under "## Reward tuning".

    .venv/bin/python bench/bench_reward_tuning.py [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from results_md import machine_line, write_section

from sandboxes import close_sandbox, get_sandbox
from tasks.reward.problems import HELD_OUT_SEEDS, PROBLEMS, SEARCH_SEEDS, TUNING_SEEDS
from verifiers.reward.evaluator import RewardEvaluator
from verifiers.reward.tuning import DEFAULT_BUDGET, Tuner

HEADING = "## Reward tuning"

SHAPED = """import numpy as np

W_SHAPING = {written}
TUNABLE = {{"W_SHAPING": {bounds}}}


def energy(o):
    return (np.sin(3 * o[:, 0]) * 0.45 + 0.55) + 0.5 * o[:, 1] ** 2 / 0.0025


def compute_reward(obs, action, next_obs, done):
    goal = done.astype(np.float64)
    shaping = W_SHAPING * (0.99 * energy(next_obs) * (~done) - energy(obs))
    return goal + shaping, {{"goal": goal, "shaping": shaping}}
"""
CASES = {
    "bad written weight": SHAPED.format(written="0.0", bounds="(0.0, 1.0)"),
    "good written weight, log range": SHAPED.format(written="0.3", bounds="(0.01, 10.0)"),
}


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


async def bench() -> list[str]:
    sandbox = await get_sandbox()
    problem = PROBLEMS["mountaincar"]
    rows = [
        "| candidate | W_SHAPING written -> tuned | search untuned | search tuned | held-out untuned "
        "| held-out tuned | wall untuned s | wall tuned s (trials + final) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    try:
        for label, source in CASES.items():
            tuner = Tuner()
            search = RewardEvaluator(problem, seeds=SEARCH_SEEDS, sandbox=sandbox, tuner=tuner)
            held = RewardEvaluator(problem, seeds=HELD_OUT_SEEDS, sandbox=sandbox, tuner=tuner)
            started = time.monotonic()
            plain, _ = await search.train(source)
            wall_plain = time.monotonic() - started
            started = time.monotonic()
            tuned, _, tuning = await search.train_tuned(source)
            wall_tuned = time.monotonic() - started
            assert tuning is not None, tuned.feedback
            held_plain, _ = await held.train(source)
            held_tuned, _, _ = await held.train_tuned(source)  # the memo holds the tuning: final only
            written, best = tuning.written.values[0][1], tuning.best.values[0][1]
            rows.append(
                f"| {label} | {written:g} -> {best:g} | {_score(plain.score)} | {_score(tuned.score)} "
                f"| {_score(held_plain.score)} | {_score(held_tuned.score)} | {wall_plain:.1f} "
                f"| {wall_tuned:.1f} ({tuning.wall_s:.1f} + {wall_tuned - tuning.wall_s:.1f}) |"
            )
            print(rows[-1], flush=True)
    finally:
        await close_sandbox()
    head = [
        machine_line(sandbox),
        f"`bench/bench_reward_tuning.py`: reward/mountaincar, sparse goal + `W_SHAPING` x energy shaping. "
        f"Tuning: {DEFAULT_BUDGET} trainings (the written value included) on tuning seeds "
        f"{list(TUNING_SEEDS)}, 2 at a time, then the final training on the search seeds "
        f"{list(SEARCH_SEEDS)}; held-out: seeds {list(HELD_OUT_SEEDS)} (the tuned column retrains with the "
        "tuned value). Scores are mean success over the seeds.",
        "",
    ]
    return head + rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = asyncio.run(bench())
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
