"""Executors: a local Ray cluster's start-up, and the cost of one verification, local against Ray.

Starts a real cluster on 127.0.0.1 (a head and one worker node, as the tests do), then verifies with the
trivial example/guess verifier (no sandbox, no delay), so what is measured is the executor's own cost:
- sequential: one verification at a time, N times (per-verification latency: the round trip);
- concurrent: N verifications gathered at once, capacity = workers x slots (verifications/s).
The first Ray verification is timed apart (the worker actors start and build the verifiers).

Run: nice -n 10 .venv/bin/python bench/bench_executors.py [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.kernel.plugins import REGISTRY, load_suite
from agent.kernel.types import Hypothesis
from agent.run.remote import RunVerifiers
from agent.search.executors import ExecutorContext, LocalExecutor, RayExecutorConfig
from tests.support.ray_cluster import ray_cluster

TASK = "example/guess"


async def sequential(executor: object, verifier: object, n: int, tag: str) -> list[float]:
    times = []
    for i in range(n):
        h = Hypothesis.create(str(i % 101), meta={"bench": tag, "i": i})
        started = time.perf_counter()
        await executor.verify("search", verifier, h)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)
    return times


async def concurrent(executor: object, verifier: object, n: int, tag: str) -> float:
    hs = [Hypothesis.create(str(i % 101), meta={"bench": tag, "i": i}) for i in range(n)]
    started = time.perf_counter()
    await asyncio.gather(*(executor.verify("search", verifier, h) for h in hs))  # type: ignore[attr-defined]
    return n / (time.perf_counter() - started)


def row(name: str, times: list[float], rate: float) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return f"| {name} | {statistics.mean(ms):.3f} | {statistics.median(ms):.3f} | {p95:.3f} | {rate:.0f} |"


async def measure(address: str, n: int, workers: int, slots: int) -> list[str]:
    problems = load_suite(TASK).select("0")
    verifier = problems[0].verifier
    local = LocalExecutor(workers * slots)
    local_seq = await sequential(local, verifier, n, "local-seq")
    local_rate = await concurrent(local, verifier, n, "local-par")

    source = RunVerifiers.of_task(TASK, REGISTRY.get(TASK).module, "0", None)
    started = time.perf_counter()
    config = RayExecutorConfig(address=address, workers=workers, slots=slots)
    executor = config.build(ExecutorContext(slots, problems, source, "none"))
    built = time.perf_counter() - started
    first = await sequential(executor, verifier, 1, "ray-first")
    try:
        await sequential(executor, verifier, 20, "ray-warm")  # both actors have started
        ray_seq = await sequential(executor, verifier, n, "ray-seq")
        ray_rate = await concurrent(executor, verifier, n, "ray-par")
    finally:
        await executor.aclose()
    return [
        f"connect + create {workers} actors: {built:.2f} s; first verification (actors start, build the "
        f"verifiers): {first[0]:.2f} s",
        "",
        "| executor | mean ms / verification | median ms | p95 ms | verifications/s at capacity |",
        "|---|---:|---:|---:|---:|",
        row(f"local (capacity {workers * slots})", local_seq, local_rate),
        row(f"ray ({workers} workers x {slots} slots)", ray_seq, ray_rate),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slots", type=int, default=2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    with ray_cluster(temp_dir) as cluster:
        lines = asyncio.run(measure(cluster.address, args.n, args.workers, args.slots))
        import ray

        ray.shutdown()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average before {load_before[0]:.1f}, after "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"cluster start (head + worker node, until both alive): {cluster.started_s:.1f} s")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
