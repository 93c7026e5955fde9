"""Cost of grading one code candidate: the code verifier's two-process harness against a bare sandbox job.

For each available sandbox (process; Docker when the daemon and image are there) it measures, on HumanEval
problem 0 with its canonical solution: a bare `python3 -c pass` job, one visible-examples verify and one
held-out verify (median and p95 of sequential runs), and the throughput of many verifies at once, as the
orchestrator issues them. Run: `.venv/bin/python bench/bench_code_verifier.py [--runs N] [--image IMAGE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from agent.kernel.types import Hypothesis
from sandboxes import DockerSandboxConfig, Job, ProcessSandboxConfig, Sandbox
from sandboxes.availability import docker_status
from sandboxes.config import DEFAULT_IMAGE
from tasks.code.humaneval import canonical_program, make_task, problems
from verifiers.code.verifier import CodeTestVerifier


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


async def timed(fn: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    await fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, p95(times) * 1000


async def bench(name: str, box: Sandbox, runs: int, parallel: int) -> None:
    task = make_task(0, problems()[0])
    visible, held_out = task.verifier, task.held_out
    assert isinstance(visible, CodeTestVerifier) and isinstance(held_out, CodeTestVerifier)
    visible.sandbox = held_out.sandbox = box
    h = Hypothesis.create(canonical_program(problems()[0]))
    bare = await timed(lambda: box.run(Job(command=["python3", "-c", "pass"])), runs)
    vis = await timed(lambda: visible.verify(h), runs)
    hid = await timed(lambda: held_out.verify(h), runs)
    start = time.perf_counter()
    verdicts = await asyncio.gather(*(visible.verify(h) for _ in range(parallel)))
    rate = parallel / (time.perf_counter() - start)
    assert all(v.passed for v in verdicts)
    print(
        f"| {name:<8} | {bare[0]:6.0f} / {bare[1]:4.0f} | {vis[0]:6.0f} / {vis[1]:4.0f} "
        f"| {hid[0]:6.0f} / {hid[1]:4.0f} | {rate:5.1f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    args = parser.parse_args()
    print("| sandbox  | bare job ms (median / p95) | visible verify ms | held-out verify ms | verifies/s |")
    print("|----------|---------------------------:|------------------:|-------------------:|-----------:|")
    boxes: list[tuple[str, Callable[[], Sandbox]]] = [("process", lambda: ProcessSandboxConfig().build())]
    status = docker_status(args.image)
    if status.usable:
        boxes.append(("docker", lambda: DockerSandboxConfig(image=args.image).build()))
    else:
        print(f"(docker skipped: {status.reason})")
    for name, build in boxes:
        box = build()
        try:
            await bench(name, box, args.runs, args.parallel)
        finally:
            await box.close()


if __name__ == "__main__":
    asyncio.run(main())
