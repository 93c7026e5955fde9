"""Real faults for the soak (bench/bench_pipeline.py soak --sandbox): SIGKILLs from outside the sandbox.

`SandboxKiller` scans /proc every so often (exponentially distributed pauses, seeded) for the soak's sandbox
jobs (their command line carries `tests.support.soak_tasks.MARKER` and the hypothesis id), among the
processes it owns (this process's descendants, or a Ray cluster's processes), and SIGKILLs either a job or
the sandbox worker that forked it (its parent), noting which candidate it hit. `WorkerKiller` SIGKILLs one
Ray
verification worker actor once the run is part-way. Neither touches any process outside its owned set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.soak_tasks import MARKER


def _stat(pid: int) -> tuple[int, str] | None:
    """(ppid, state) of `pid`, or None when it is gone."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(rest[1]), rest[0]
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def descendants_of(roots: set[int]) -> Callable[[int], bool]:
    """A test: does `pid` descend from one of `roots` (walking the ppid chain)?"""

    def owned(pid: int) -> bool:
        seen = 0
        while pid > 1 and seen < 64:
            if pid in roots:
                return True
            st = _stat(pid)
            if st is None:
                return False
            pid, seen = st[0], seen + 1
        return False

    return owned


def soak_jobs(owned: Callable[[int], bool]) -> list[tuple[int, int, str]]:
    """(job pid, its parent's pid = the sandbox worker, hypothesis id) of every soak job running now."""
    marker = MARKER.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if marker not in argv:
            continue
        i = argv.index(marker)
        st = _stat(int(entry))
        if st is None or st[1] == "Z" or i + 1 >= len(argv) or not owned(int(entry)):
            continue
        found.append((int(entry), st[0], argv[i + 1].decode()))
    return found


@dataclass
class Kill:
    at_s: float
    target: str  # "job" or "worker"
    pid: int
    hypothesis_id: str


@dataclass
class SandboxKiller:
    owned: Callable[[int], bool]
    mean_interval_s: float = 0.5
    worker_share: float = 0.3
    seed: int = 7
    kills: list[Kill] = field(default_factory=list)
    scans: int = 0
    empty_scans: int = 0

    async def run(self, done: asyncio.Event) -> None:
        rng = random.Random(self.seed)
        started = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=rng.expovariate(1.0 / self.mean_interval_s))
            if done.is_set():
                return
            jobs = await asyncio.to_thread(soak_jobs, self.owned)
            self.scans += 1
            if not jobs:
                self.empty_scans += 1
                continue
            job, worker, hid = rng.choice(jobs)
            target, pid = ("worker", worker) if rng.random() < self.worker_share else ("job", job)
            if target == "worker" and MARKER.encode() in _cmdline(pid):
                continue  # not the worker after all (re-parented): skip rather than guess
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.kills.append(Kill(time.monotonic() - started, target, pid, hid))


@dataclass
class WorkerKiller:
    """SIGKILL one Ray `VerificationWorker` actor process (of `cluster_pids()`) once `when()` says so."""

    cluster_pids: Callable[[], list[int]]
    when: Callable[[], bool]
    killed: list[tuple[float, int]] = field(default_factory=list)
    #: the candidates whose sandbox jobs ran under the killed actor at that moment (retried elsewhere)
    in_flight: list[str] = field(default_factory=list)

    async def run(self, done: asyncio.Event) -> None:
        started = time.monotonic()
        while not done.is_set() and not self.killed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=0.5)
            if done.is_set() or not self.when():
                continue
            actors = [p for p in self.cluster_pids() if b"VerificationWorker" in b" ".join(_cmdline(p))]
            if actors:
                victim = sorted(actors)[0]
                self.in_flight = [hid for _, _, hid in soak_jobs(descendants_of({victim}))]
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
                    self.killed.append((time.monotonic() - started, victim))
