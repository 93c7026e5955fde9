"""A real local Ray cluster for tests: a head and one worker node, each a `ray start` process on 127.0.0.1.

Both nodes run with the repository on PYTHONPATH, so their workers import the test plugin tasks
(`tests.support.ray_tasks`) as a user's cluster imports the user's. Stopping ends only this cluster's
processes: those whose command line names its own temporary directory (every Ray daemon of a session
does), and their descendants (the worker actors and their sandboxes), by pid; `ray stop` would end every
Ray process of this user on the machine, other people's included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import ROOT

RAY = str(Path(sys.executable).parent / "ray")
#: seconds the cluster may take to come up on a loaded 2-core machine
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    started_s: float  # seconds from the first `ray start` until both nodes were alive

    def processes(self) -> list[int]:
        """The pids of this cluster's processes: its daemons (found by its temp dir) and descendants."""
        tree: dict[int, list[int]] = {}
        roots: list[int] = []
        marker = str(self.temp_dir).encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
            if marker in cmdline:
                roots.append(int(entry))
        found: list[int] = []
        todo = list(roots)
        while todo:
            pid = todo.pop()
            if pid not in found and pid != os.getpid():
                found.append(pid)
                todo += tree.get(pid, [])
        return found

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, to every process of the cluster, including the descendants seen before
        their daemon died (an orphaned worker actor no longer descends from any)."""
        known = set(self.processes())
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            pids = self._alive(known | set(self.processes()))
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = self._alive(pids | set(self.processes()))
            if not pids:
                return

    @staticmethod
    def _alive(pids: set[int]) -> set[int]:
        """Those of `pids` still running (a zombie has finished: only its parent's wait is missing)."""
        alive = set()
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                alive.add(pid)
        return alive


def cluster_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("RAY_")}
    env.update(PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", LITELLM_LOCAL_MODEL_COST_MAP="True")
    return env


def _start(args: list[str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            [RAY, "start", *args, "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"],
            env=cluster_env(), stdout=out, stderr=subprocess.STDOUT, timeout=START_TIMEOUT_S, cwd=ROOT,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ray start {args[0]} failed:\n{log.read_text()[-3000:]}")


def _alive_nodes(address: str) -> int:
    probe = (
        "import ray; ray.init(address=%r, log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe % address], env=cluster_env(), capture_output=True, text=True,
        timeout=START_TIMEOUT_S, cwd=ROOT,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    return int(lines[-1]) if done.returncode == 0 and lines and lines[-1].isdigit() else 0


@contextlib.contextmanager
def ray_cluster(temp_dir: Path) -> Iterator[RayCluster]:
    """A head and one worker node; both stopped (by pid) on exit, whatever happened."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    cluster = RayCluster(address, temp_dir, 0.0)
    log = temp_dir / "ray-start.log"
    started = time.monotonic()
    try:
        head = ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp_dir}"]
        _start(head, log)
        _start([f"--address={address}"], log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while _alive_nodes(address) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray worker node did not join in {START_TIMEOUT_S:.0f} s")
            time.sleep(1.0)
        cluster.started_s = time.monotonic() - started
        yield cluster
    finally:
        cluster.stop()
