"""What the native-build probe (agent/models/native_probe.py) costs: uncached (a child imports llama_cpp,
loads the model with a 64-token context and evaluates one token), cached on disk (a new process: the key is
computed and the marker file found) and cached in this process. Results go to bench/RESULTS.md under
"## Local model native-build probe".

    .venv/bin/python bench/bench_native_probe.py [--models smollm2-135m,qwen2.5-coder-1.5b] [--reps 3]
        [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from results_md import write_section

from agent.models import native_probe
from agent.models.local_weights import NAMED_MODELS, status

HEADING = "## Local model native-build probe"


def measure(path: Path, reps: int) -> tuple[list[float], list[float], list[float]]:
    uncached, on_disk, in_memory = [], [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as cache:
            native_probe._PASSED.clear()
            first = native_probe.check_native_runtime(path, cache=Path(cache))
            assert not first.cached
            uncached.append(first.seconds)
            native_probe._PASSED.clear()  # as a new process finds it: on disk only
            second = native_probe.check_native_runtime(path, cache=Path(cache))
            assert second.cached
            on_disk.append(second.seconds)
            third = native_probe.check_native_runtime(path, cache=Path(cache))
            in_memory.append(third.seconds)
    return uncached, on_disk, in_memory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="smollm2-135m,qwen2.5-coder-1.5b")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    lines = [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, measured "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at the start "
        f"{os.getloadavg()[0]:.1f} (a shared machine). Command: `{' '.join(['python', *sys.argv])}`.",
        "",
        "| model | size | uncached probe (median, min-max) | cached on disk | cached in process |",
        "|---|---|---|---|---|",
    ]
    for name in args.models.split(","):
        state = status(NAMED_MODELS[name])
        if state.path is None or state.state != "ready":
            print(f"{name}: not installed, skipped")
            continue
        uncached, on_disk, in_memory = measure(state.path, args.reps)
        row = (
            f"| {name} | {state.path.stat().st_size / 1e6:.0f} MB | {statistics.median(uncached):.2f} s "
            f"({min(uncached):.2f}-{max(uncached):.2f}) | {statistics.median(on_disk) * 1e3:.1f} ms | "
            f"{statistics.median(in_memory) * 1e3:.2f} ms |"
        )
        print(row, flush=True)
        lines.append(row)
    lines += [
        "",
        f"{args.reps} repetitions each, load average at the end {os.getloadavg()[0]:.1f}. The uncached probe "
        "runs once per machine and llama.cpp build (key: the runtime's shared libraries' path, size and "
        "mtime, the CPU flags, the probe program); every later `assay run` with a local model pays the "
        "cached cost. For comparison, loading qwen2.5-coder-1.5b in process takes seconds "
        "(## Local model).",
    ]
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
