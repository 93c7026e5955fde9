"""Sandbox benchmark: per-job overhead and throughput of the warm pools against plain host subprocesses.

Every variant runs the same command (`python3 -c SNIPPET`, with the same Debian Python 3.11 on the host and in
the image) in the same run, interleaved round by round so machine load hits all of them alike. The process
sandbox appears plain and under bubblewrap with that same /usr/bin/python3 (the cost of the namespaces
alone), and under bubblewrap with the venv's Python, as it runs by default (which adds that interpreter's
start-up). Also measured for comparison: a cold `docker run` per job and `exec_run` per job. Results go under
"## Sandbox" in bench/RESULTS.md.

    .venv/bin/python bench/bench_sandbox.py [--rounds 60] [--jobs 40] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from agent.kernel.sandbox import Job, Limits, Sandbox
from sandboxes.availability import docker_status
from sandboxes.bwrap import bwrap_status
from sandboxes.config import DEFAULT_IMAGE, DockerSandboxConfig, ProcessSandboxConfig

HOST_PYTHON = "/usr/bin/python3"
TRIVIAL = "pass"
CPU_50MS = "n = 0\nfor i in range({iters}):\n    n += i * i"
RESULTS = Path(__file__).with_name("RESULTS.md")
PAUSE_S = 0.02


def calibrate() -> int:
    """Loop iterations that take ~50 ms of CPU in the host's Debian Python."""
    iters = 1_000_000
    loop = CPU_50MS.format(iters=iters)
    code = f"import time\nt = time.process_time()\n{loop}\nprint(time.process_time() - t)"
    per = min(
        float(subprocess.run([HOST_PYTHON, "-c", code], capture_output=True, text=True).stdout)
        for _ in range(3)
    )
    return int(iters * 0.050 / per)


def host_run(snippet: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run([HOST_PYTHON, "-c", snippet], capture_output=True)
    assert proc.returncode == 0
    return time.perf_counter() - t


async def sandbox_run(sandbox: Sandbox, snippet: str) -> float:
    t = time.perf_counter()
    r = await sandbox.run(Job(command=["python3", "-c", snippet], limits=Limits(wall_s=30)))
    assert r.ok, r
    return time.perf_counter() - t


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs) * 1000, xs[min(len(xs) - 1, int(0.95 * len(xs)))] * 1000


async def throughput_sandbox(sandbox: Sandbox, snippet: str, jobs: int) -> float:
    t = time.perf_counter()
    await asyncio.gather(*(sandbox_run(sandbox, snippet) for _ in range(jobs)))
    return jobs / (time.perf_counter() - t)


def throughput_host(snippet: str, jobs: int, workers: int) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda _: host_run(snippet), range(jobs)))
    return jobs / (time.perf_counter() - t)


def cold_docker(image: str, snippet: str, n: int) -> tuple[list[float], list[float]]:
    client = docker.from_env()
    runs, execs = [], []
    for _ in range(n):
        t = time.perf_counter()
        client.containers.run(image, ["python3", "-c", snippet], remove=True, network_mode="none")
        runs.append(time.perf_counter() - t)
    c = client.containers.run(image, ["sleep", "600"], detach=True, network_mode="none")
    try:
        for _ in range(n):
            t = time.perf_counter()
            res = c.exec_run(["python3", "-c", snippet])
            assert res.exit_code == 0
            execs.append(time.perf_counter() - t)
    finally:
        c.remove(force=True)
    return runs, execs


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--pool", type=int, default=2)
    ap.add_argument("--image", default=DEFAULT_IMAGE)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    have_docker = docker_status(args.image).usable
    plain = ProcessSandboxConfig(pool_size=args.pool, isolation="plain", interpreter=HOST_PYTHON)
    sandboxes: dict[str, Sandbox] = {"process pool, plain": plain.build()}
    bwrap = bwrap_status()
    if bwrap.usable:
        same = plain.model_copy(update={"isolation": "bwrap"})
        sandboxes["process pool, bwrap"] = same.build()
        venv = ProcessSandboxConfig(pool_size=args.pool, isolation="bwrap")
        sandboxes["process pool, bwrap, venv python"] = venv.build()
    if have_docker:
        sandboxes["docker pool"] = DockerSandboxConfig(image=args.image, pool_size=args.pool).build()
    for sb in sandboxes.values():
        await asyncio.to_thread(sb.warm)  # type: ignore[attr-defined]
        for _ in range(5):
            await sandbox_run(sb, TRIVIAL)
    for _ in range(5):
        host_run(TRIVIAL)

    iters = calibrate()
    cpu_snippet = CPU_50MS.format(iters=iters)
    latency: dict[str, list[float]] = {"host subprocess": [], **{k: [] for k in sandboxes}}
    for _ in range(args.rounds):  # interleaved, so load changes hit every variant alike
        # A short pause before each measurement lets the previous variant's background work (a worker
        # sweeps after it replies) finish, so each latency is one job on a quiet, warm sandbox. The
        # throughput runs below include that background work.
        time.sleep(PAUSE_S)
        latency["host subprocess"].append(host_run(TRIVIAL))
        for name, sb in sandboxes.items():
            time.sleep(PAUSE_S)
            latency[name].append(await sandbox_run(sb, TRIVIAL))

    tput: dict[str, list[float]] = {"host subprocess": [], **{k: [] for k in sandboxes}}
    for _ in range(3):
        tput["host subprocess"].append(throughput_host(cpu_snippet, args.jobs, args.pool))
        for name, sb in sandboxes.items():
            tput[name].append(await throughput_sandbox(sb, cpu_snippet, args.jobs))
    for sb in sandboxes.values():
        await sb.close()

    cold = cold_docker(args.image, TRIVIAL, 10) if have_docker else None

    host_med, _ = stats(latency["host subprocess"])
    host_tp = statistics.median(tput["host subprocess"])
    lines = [
        "## Sandbox",
        "",
        f"`bench/bench_sandbox.py` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} vCPU, {platform.release()},"
        f" load average at start {os.getloadavg()[0]:.1f}). Same command everywhere: `python3 -c SNIPPET`,"
        " Debian Python 3.11 on the host and in the image; latency rounds interleaved with a"
        f" {PAUSE_S * 1000:.0f} ms pause before each job; pool size"
        f" {args.pool}; throughput = {args.jobs} jobs of a ~50 ms-CPU loop, {args.pool} at a time,"
        " median of 3.",
        "",
        "| variant | median ms (trivial job) | p95 ms | overhead vs host, median ms | jobs/s (50 ms CPU)"
        " | vs host |",
        "|---|---|---|---|---|---|",
    ]
    for name, xs in latency.items():
        med, p95 = stats(xs)
        tp = statistics.median(tput[name])
        lines.append(
            f"| {name} | {med:.1f} | {p95:.1f} | {med - host_med:+.1f} | {tp:.1f} | {tp / host_tp:.2f}x |"
        )
    if cold:
        for name, xs in (("cold `docker run` per job", cold[0]), ("`exec_run` per job", cold[1])):
            med, p95 = stats(xs)
            lines.append(f"| {name} | {med:.1f} | {p95:.1f} | {med - host_med:+.1f} | | |")
    else:
        lines.append("| docker | not measured: no daemon or image | | | | |")
    if not bwrap.usable:
        lines.append(f"| process pool, bwrap | not measured: {bwrap.reason} | | | | |")
    lines += [
        "",
        "Targets: median overhead over the host subprocess <= 5 ms; throughput >= 0.9x the host's.",
        "",
        "Reading it: the machine is shared with other engineers' jobs, so absolute numbers move with load;"
        " compare rows of one run only. A warm-pool job is one fork inside a warm worker plus one round trip"
        " (docker: through the attach socket); the worker sweeps after it replies, so the sweep is in the"
        " throughput rows but not in the latency rows. Under contention a container's own cgroup gets its own"
        " CPU share, which is why the docker pool can beat the host subprocess on throughput here."
        " The bwrap rows differ from plain only by the namespaces (same interpreter); the venv row is the"
        " default process sandbox, whose jobs start the venv's Python (pyenv 3.11 plus its site-packages).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text)


def write_section(section: str) -> None:
    """Replace (or append) only our own section of the shared results file."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    start = old.find("## Sandbox\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + 1)
        rest = "\n" + old[end + 1 :] if end >= 0 else ""  # keep the blank line before the next section
        new = old[:start] + section.rstrip("\n") + "\n" + rest
    RESULTS.write_text(new.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
