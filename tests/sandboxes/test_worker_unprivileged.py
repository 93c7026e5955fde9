"""The worker's sweep without a uid to drop to (an ordinary user running the process sandbox).

As root the process sandbox always gives jobs their own uid, so this path is exercised here by starting the
worker itself as an unused unprivileged uid: then it can only use its child-subreaper sweep.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.kernel.sandbox import Job, Limits
from sandboxes.pool import WorkerHandle
from sandboxes.process import WORKER_SOURCE, send_all
from sandboxes.protocol import FdSource, FrameReader
from tests.sandboxes.adversarial_cases import CASES, Case

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the worker as another uid")

SYSTEM_PYTHON = "/usr/bin/python3"


class UnprivilegedWorker(WorkerHandle):
    def __init__(self, uid: int, workroot: str) -> None:
        super().__init__()
        self.uid = uid
        self.path = "/usr/bin:/bin"
        cmd = [SYSTEM_PYTHON, "-I", "-S", "-c", WORKER_SOURCE, "--workroot", workroot]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, user=uid, group=uid, extra_groups=[],
            env={"PATH": self.path}, cwd="/",
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.reader = FrameReader(FdSource(self.proc.stdout.fileno()))
        self.reader.read_frame(time.monotonic() + 15, 4096)

    def send(self, data: bytes, deadline: float) -> None:
        assert self.proc.stdin is not None
        send_all(self.proc.stdin.fileno(), data, deadline)

    def processes_of_uid(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        pids.append(int(entry))
                except OSError:
                    pass
        return pids

    def dispose(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[UnprivilegedWorker]:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"{SYSTEM_PYTHON} is not installed")
    uid = random.randint(2_000_000, 2_999_999)
    root = tempfile.mkdtemp(prefix="assay-unpriv-")  # pytest's own tmp dirs are private to root
    os.chmod(root, 0o777)
    w = UnprivilegedWorker(uid, os.path.join(root, "work"))
    yield w
    w.dispose()
    shutil.rmtree(root, ignore_errors=True)


SWEEP_CASES = [
    c
    for c in CASES
    if c.name
    in (
        "busy_loop",
        "setsid_double_fork_ignoring_sigterm",
        "background_child_holds_stdout",
        "segfault",
        "fork_bomb",
    )
]


@pytest.mark.parametrize("case", SWEEP_CASES, ids=[c.name for c in SWEEP_CASES])
def test_subreaper_sweep_leaves_nothing(worker: UnprivilegedWorker, case: Case) -> None:
    limits = Limits(wall_s=2.0, pids=64)
    result = worker.execute(case.job().model_copy(update={"limits": limits}))
    assert case.safe(result), result
    worker.ping()  # the sweep runs right after the reply
    assert worker.processes_of_uid() == [worker.proc.pid], "job processes survived the sweep"
    after = worker.execute(Job(command=["python3", "-c", "print('next')"]))
    assert after.ok and after.stdout == "next\n"
