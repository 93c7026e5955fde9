"""The CPU's vector level, as part of a sandbox's identity.

Why it is there: the same candidate, image and seeds train to different scores on different CPUs. numpy and
torch pick their SIMD kernels at run time (AVX-512, AVX2, SSE), the kernels round differently, and a training
loop amplifies the last bit: measured on this project's machines, a reward that trains a MountainCar policy
to 0.997 on an AVX-512 machine trains to 0.887 on an AVX2 one, and Pendulum's environment-reward baseline
moves from 0.720 to 0.610. A verdict cached under `docker:<recipe>` alone would be reused on a machine where
judging it again gives another score, so the cache (keyed by the sandbox's identity) would report a score
that this machine does not produce. Naming the vector level keeps verdicts apart by what decides them.

The level is read from the kernel's CPU flags (Linux `/proc/cpuinfo`), not from numpy, so that the host
computes it without importing anything a job would: the job runs on the same CPU (a container or a
bubblewrap sandbox shares the host's processor). The x86-64 micro-architecture levels (v2/v3/v4) are the
feature sets compilers and numpy's dispatch group kernels by; AMX is named apart because torch uses it for
bfloat16 matrix products on the machines that have it.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# the flags each x86-64 level adds (the psABI's levels, as the kernel names the flags)
_X86_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("v2", frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"})),
    ("v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"})),
    ("v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
)


def x86_level(flags: frozenset[str]) -> str:
    """The highest x86-64 level whose flags (and every lower level's) are all present: "v1" to "v4"."""
    level = "v1"
    for name, needed in _X86_LEVELS:
        if not needed <= flags:
            break
        level = name
    return level


def _cpu_flags(cpuinfo: str) -> frozenset[str]:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 says flags, arm64 says Features
            return frozenset(value.split())
    return frozenset()


def describe(machine: str, cpuinfo: str) -> str:
    """The vector level of a CPU from its architecture name and `/proc/cpuinfo` text, e.g. "x86_64-v3",
    "x86_64-v4+amx", "aarch64+sve"; the bare architecture when nothing is known of its flags."""
    flags = _cpu_flags(cpuinfo)
    if machine in ("x86_64", "AMD64") and flags:
        amx = "+amx" if {"amx_tile", "amx_bf16"} <= flags else ""
        return f"x86_64-{x86_level(flags)}{amx}"
    if machine in ("aarch64", "arm64") and "sve" in flags:
        return f"{machine}+sve"
    return machine or "unknown"


@functools.cache
def vector_level() -> str:
    """This machine's vector level (read once: it cannot change while the process runs)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        cpuinfo = ""
    return describe(platform.machine(), cpuinfo)
