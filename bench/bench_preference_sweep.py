"""Over-optimisation on `loss/preference`: push DPO harder; the proxy score rises and the gold score falls.

Two sweeps through the task's real verifiers (sandboxed training, host grading): DPO's beta (smaller = weaker
KL regularisation), and training length (per-epoch snapshots of one longer run at the default beta). Each row
gives the search score (proxy reward, validation contexts, seeds 0-2), the held-out score (gold reward, test
contexts, seeds 100-102), the proxy reward on those same test runs, and the KL to the reference.

    .venv/bin/python bench/bench_preference_sweep.py [--sandbox process|docker]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import replace

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig
from tasks.loss import known_losses, preference_task
from tasks.loss.preference import PreferenceConfig

BETAS = (3.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.1, 0.03)
LONG = replace(PreferenceConfig(), epochs=20, sample_epochs=(1, 2, 3, 4, 5, 7, 10, 15, 20))


async def beta_sweep(sandbox: Sandbox) -> None:
    print("| DPO beta | search: proxy, val | held-out: gold, test | proxy, test | KL to ref, test |")
    print("|---:|---:|---:|---:|---:|")
    h = Hypothesis.create(known_losses.DPO)
    for beta in BETAS:
        task = preference_task.build(replace(PreferenceConfig(), beta=beta), sandbox=sandbox)
        assert task.held_out is not None
        search, held = await task.verifier.verify(h), await task.held_out.verify(h)
        m = held.metrics
        print(
            f"| {beta:g} | {search.score:.3f} | {held.score:.3f} | {m['test_proxy_gain']:.3f} | "
            f"{m['test_kl_to_ref']:.2f} |",
            flush=True,
        )


async def length_sweep(sandbox: Sandbox) -> None:
    print(f"\nDPO, beta {LONG.beta:g}, {LONG.epochs} epochs (mean over 3 seeds at each sampled epoch)\n")
    print("| epoch | search: proxy, val | held-out: gold, test | proxy, test |")
    print("|---:|---:|---:|---:|")
    task = preference_task.build(LONG, sandbox=sandbox)
    assert task.held_out is not None
    h = Hypothesis.create(known_losses.DPO)
    search, held = await task.verifier.verify(h), await task.held_out.verify(h)
    for epoch in LONG.sample_epochs:
        print(
            f"| {epoch} | {search.metrics[f'val_proxy_gain_epoch{epoch}']:.3f} | "
            f"{held.metrics[f'test_gold_gain_epoch{epoch}']:.3f} | "
            f"{held.metrics[f'test_proxy_gain_epoch{epoch}']:.3f} |",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sandbox", choices=["process", "docker"], default="process")
    args = parser.parse_args()
    sandbox = (DockerSandboxConfig() if args.sandbox == "docker" else ProcessSandboxConfig()).build()
    print(f"sandbox: {args.sandbox}; load average before: {os.getloadavg()[0]:.1f}\n")
    try:
        await beta_sweep(sandbox)
        await length_sweep(sandbox)
    finally:
        await sandbox.close()
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
