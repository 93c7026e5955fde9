"""Benchmark of DrEureka's step: does randomising during training help on the hidden "real" dynamics?

For every DR task it takes the environment's own reward, adds hand-written randomisations (below, written
from the parameters' physical meaning, not searched), and runs each through the task's real held-out
verifier: on the same held-out seeds, training with the ranges and without them, all scored on the task's
fixed perturbed dynamics and in the nominal simulator. Training without randomisation is the same for every
row of a task (it is the environment's reward either way), so each row compares one randomisation with none.
Results go to bench/RESULTS.md under "## Domain randomisation".

    .venv/bin/python bench/bench_reward_dr.py [--tasks mountaincar,pendulum] [--seeds N] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

from results_md import machine_line, write_section

from agent.kernel.types import Hypothesis
from sandboxes import close_sandbox, get_sandbox
from tasks.reward.dr import DR_VARIANTS
from verifiers.reward.dr import DomainRandomisedHeldOut

HEADING = "## Domain randomisation"

#: label -> RANDOMISE, per task: a narrower and a wider guess around the nominal parameters
HAND_WRITTEN: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "mountaincar": {
        "force +-40%": {"force": (0.0006, 0.0014)},
        "force +-40%, gravity +-20%": {"force": (0.0006, 0.0014), "gravity": (0.002, 0.003)},
    },
    "pendulum": {
        "m, l +-20%, torque -20%, friction <= 0.05": {
            "m": (0.8, 1.2),
            "l": (0.8, 1.2),
            "max_torque": (1.6, 2.0),
            "friction": (0.0, 0.05),
        },
        "m, l -20%..+40%, torque -30%, friction <= 0.1": {
            "m": (0.8, 1.4),
            "l": (0.8, 1.4),
            "max_torque": (1.4, 2.0),
            "friction": (0.0, 0.1),
        },
    },
}


def _seeds_text(metrics: dict[str, float], stem: str, seeds: tuple[int, ...]) -> str:
    return " ".join(f"{metrics[f'{stem}_seed_{s}']:.2f}" for s in seeds)


def _worst(metrics: dict[str, float], stem: str, seeds: tuple[int, ...]) -> str:
    return f"{min(metrics[f'{stem}_seed_{s}'] for s in seeds):.2f}"


def _dynamics_text(metrics: dict[str, float], stem: str, n: int) -> str:
    return " ".join(f"{metrics[f'{stem}_dynamics_{j}']:.2f}" for j in range(n))


async def bench(tasks: list[str], n_seeds: int | None) -> list[str]:
    sandbox = await get_sandbox()
    rows = [
        "| task | randomisation | real success (paired change +- s.e.) | per dynamics | per seed "
        "| worst seed | nominal sim | seeds better/worse | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    try:
        for key in tasks:
            variant = DR_VARIANTS[key]
            seeds = variant.seeds if n_seeds is None else tuple(range(1000, 1000 + n_seeds))
            held_out = DomainRandomisedHeldOut(
                variant.problem, variant.bounds, variant.real_dynamics, seeds=seeds, sandbox=sandbox
            )
            notes.append(f"- {key}: real dynamics {list(variant.real_dynamics)}, seeds {list(seeds)}")
            first = True
            for label, ranges in HAND_WRITTEN[key].items():
                source = f"{variant.problem.env_reward}\nRANDOMISE = {ranges!r}\n"
                started = time.monotonic()
                verdict = await held_out.verify(Hypothesis.create(source))
                wall = time.monotonic() - started
                m = verdict.metrics
                n_dyn = len(variant.real_dynamics)
                if first:  # training without randomisation: the same for every row of the task
                    plain = "real_success_without_randomisation"
                    rows.append(
                        f"| {key} | none | {m[plain]:.3f} | {_dynamics_text(m, plain, n_dyn)} | "
                        f"{_seeds_text(m, plain, seeds)} | {_worst(m, plain, seeds)} | "
                        f"{m['sim_success_without_randomisation']:.3f} | | |"
                    )
                    print(rows[-1], flush=True)
                    first = False
                per = _dynamics_text(m, "real_success", n_dyn)
                diffs = [
                    m[f"real_success_seed_{s}"] - m[f"real_success_without_randomisation_seed_{s}"]
                    for s in seeds
                ]
                better = sum(d > 0.005 for d in diffs)
                worse = sum(d < -0.005 for d in diffs)
                se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
                rows.append(
                    f"| {key} | {label} | {m['real_success']:.3f} ({m['margin_vs_no_randomisation']:+.3f} "
                    f"+- {se:.3f}) | {per} | {_seeds_text(m, 'real_success', seeds)} | "
                    f"{_worst(m, 'real_success', seeds)} | {m['sim_success']:.3f} | {better}/{worse} "
                    f"| {wall:.0f} |"
                )
                print(rows[-1], flush=True)
    finally:
        await close_sandbox()
    head = [
        f"`bench/bench_reward_dr.py`: the environment's reward of each DR task trained on the held-out seeds "
        "with a hand-written randomisation and without any, through the task's held-out verifier, scored on "
        "the task's hidden perturbed dynamics (`tasks/reward/dr.py`) and in the nominal simulator. "
        f"{machine_line(sandbox)} Real success is the mean over "
        "seeds and dynamics (in brackets: the mean over seeds of randomised minus unrandomised success of "
        "the same seed, +- its standard error); per dynamics is in the order of the list below; seeds "
        "better/worse counts seeds whose randomised policy beat / fell below the unrandomised one of the "
        "same seed on the real dynamics.",
        "",
    ]
    return head + rows + ["", *notes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", default=",".join(DR_VARIANTS))
    parser.add_argument("--seeds", type=int, default=None, help="train on seeds 1000.. (default: the task's)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = asyncio.run(bench([t.strip() for t in args.tasks.split(",") if t.strip()], args.seeds))
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
