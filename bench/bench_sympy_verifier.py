"""Benchmark of the SymPy verifier and the math suites: child start-up, per-check latency, throughput.

Run: .venv/bin/python bench/bench_sympy_verifier.py
Prints a Markdown section for bench/RESULTS.md ("SymPy math verifier").
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

from agent.kernel.types import Hypothesis
from sandboxes.child import max_concurrency, run_in_child, start_forkserver
from verifiers.sympy.verifier import SympyVerifier


def _suite_generation() -> dict[str, float]:
    import sympy  # noqa: F401  (imported once, as the CLI would have by then)

    from tasks.math.suites import FAMILIES, build_suite

    times = {}
    for family in FAMILIES:
        start = time.perf_counter()
        build_suite(family)
        times[family] = time.perf_counter() - start
    return times


async def _main() -> None:
    generation = _suite_generation()

    start = time.perf_counter()
    await start_forkserver()
    await run_in_child(abs, -1, timeout_s=30)
    startup = time.perf_counter() - start

    bare = []
    for _ in range(30):
        t = time.perf_counter()
        await run_in_child(abs, -1, timeout_s=10)
        bare.append(time.perf_counter() - t)

    verifier = SympyVerifier("antiderivative", {"integrand": "2*x*cos(x**2)"})
    latencies = []
    for i in range(30):
        t = time.perf_counter()
        await verifier.verify(Hypothesis.create(f"sin(x**2) + {i}"))
        latencies.append(time.perf_counter() - t)

    numeric: dict[str, list[float]] = {"search": [], "exact": []}
    for mode in numeric:
        identity = SympyVerifier("equivalent", {"expected": "sin(2*x)"}, mode=mode)  # type: ignore[arg-type]
        for i in range(15):
            t = time.perf_counter()
            await identity.verify(Hypothesis.create(f"2*sin(x)*cos(x) + {i} - {i}*1"))
            numeric[mode].append(time.perf_counter() - t)

    from tasks.math.suites import FAMILIES, problems

    chosen = [p for f in FAMILIES for p in problems(f)]
    throughput = {}
    for mode in ("search", "exact"):
        verifiers = [SympyVerifier(p.kind, p.data, mode=mode) for p in chosen]  # type: ignore[arg-type]
        t = time.perf_counter()
        verdicts = await asyncio.gather(
            *[v.verify(Hypothesis.create(p.answer)) for v, p in zip(verifiers, chosen, strict=True)]
        )
        elapsed = time.perf_counter() - t
        throughput[mode] = (len(chosen) / elapsed, sum(v.passed for v in verdicts), elapsed)

    hang = SympyVerifier("equivalent", {"expected": "x"}, timeout_s=1.0)
    t = time.perf_counter()
    verdict = await hang.verify(Hypothesis.create("factorial(10**9)"))
    hang_s = time.perf_counter() - t

    def ms(values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[int(0.9 * len(ordered))]
        return f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms"

    load = os.getloadavg()[0]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print("## SymPy math verifier\n")
    print(
        f"`bench/bench_sympy_verifier.py`, {os.cpu_count()} vCPU, child concurrency {max_concurrency()}, "
        f"load average {load:.1f} at the end (shared machine), {when}.\n"
    )
    print("| measure | result |\n|---|---|")
    print(f"| forkserver start (SymPy import + warm-up), first child | {startup:.2f} s |")
    print(f"| bare child round trip (`run_in_child(abs, -1)`) | {ms(bare)} |")
    print(f"| one antiderivative check (structurally equal), sequential, search mode | {ms(latencies)} |")
    for mode, values in numeric.items():
        print(f"| `2*sin(x)*cos(x)` vs `sin(2*x)` (numeric path), sequential, {mode} mode | {ms(values)} |")
    for mode, (rate, passed, elapsed) in throughput.items():
        print(
            f"| all {len(chosen)} suite reference answers, {mode} mode, concurrent | "
            f"{rate:.1f} checks/s ({elapsed:.1f} s; {passed}/{len(chosen)} passed) |"
        )
    print(f"| `factorial(10**9)` with timeout 1.0 s | {verdict.status.value} after {hang_s:.2f} s |")
    gen = ", ".join(f"{f} {s * 1000:.0f} ms" for f, s in generation.items())
    print(f"| suite generation per family (20 problems each) | {gen} |")


if __name__ == "__main__":
    asyncio.run(_main())
