"""The process sandbox: the same persistent worker as in Docker, run as a local subprocess.

It is for trusted code and for machines without Docker. There is no filesystem or network isolation. When the
host runs as root, each worker drops every job to its own unused uid, so a job cannot signal the worker or
other processes (`kill -9 -1` reaches only itself), cannot read other processes' environments, and
RLIMIT_NPROC bounds a fork bomb. That uid must be able to run Python: ours when other users can reach it,
else the system's /usr/bin/python3 (install python3-numpy/python3-sympy for the packages). As an ordinary
user, a job runs as that user and can do whatever that user can.
"""

from __future__ import annotations

import os
import random
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.kernel.sandbox import ExecResult, Job
from sandboxes.pool import WorkerHandle, WorkerPool
from sandboxes.protocol import FdSource, FrameReader, WorkerLost
from sandboxes.worker import remove_tree

WORKER_SOURCE = Path(__file__).with_name("worker.py")
START_TIMEOUT_S = 15.0
KILL_ALL_OF_MY_UID = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass"


def send_all(fd: int, data: bytes, deadline: float) -> None:
    """Write everything to a non-blocking fd, or raise `WorkerLost` at the deadline or on a broken pipe."""
    view = memoryview(data)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerLost("sandbox worker did not accept the job before the host deadline")
        _, writable, _ = select.select([], [fd], [], remaining)
        if not writable:
            continue
        try:
            view = view[os.write(fd, view[: 1 << 20]) :]
        except BlockingIOError:
            continue
        except OSError as exc:
            raise WorkerLost(f"sandbox worker is gone: {exc}") from exc


def world_executable(path: str) -> bool:
    """Whether an unprivileged uid could run this interpreter (every directory on its path searchable)."""
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & 0o001:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in real.parents)
    except OSError:
        return False


class ProcessWorker(WorkerHandle):
    rlimit_as = True

    def __init__(self, *, interpreter: str | None = None) -> None:
        super().__init__()
        python = interpreter or sys.executable
        self.python = python
        self.workroot = tempfile.mkdtemp(prefix="assay-proc-")
        # As root a job never runs as root: `kill -9 -1` would take the whole machine down with it. It gets an
        # unused uid, which then also needs an interpreter it may run: ours if other users can reach it.
        self.uid = random.randint(1_000_000, 1_999_999) if os.geteuid() == 0 else None
        job_python = python if self.uid is None or world_executable(python) else "/usr/bin/python3"
        self.job_python = job_python
        self.path = f"{Path(job_python).parent}:/usr/local/bin:/usr/bin:/bin"
        cmd = [python, "-I", "-S", str(WORKER_SOURCE), "--workroot", self.workroot, "--remove-workroot"]
        if self.uid is not None:
            cmd += ["--uid", str(self.uid), "--gid", str(self.uid)]
        env = {"PATH": self.path, "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.reader = FrameReader(FdSource(self.proc.stdout.fileno()))
        try:
            self.reader.read_frame(time.monotonic() + START_TIMEOUT_S, 4096)
        except WorkerLost:
            self.dispose()
            raise

    def send(self, data: bytes, deadline: float) -> None:
        assert self.proc.stdin is not None
        send_all(self.proc.stdin.fileno(), data, deadline)

    def leftover_processes(self) -> list[str]:
        if self.uid is None:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        found.append(
                            Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                        )
                except OSError:
                    continue
        return found

    def loss_result(self, exc: WorkerLost) -> ExecResult | None:
        # A local worker only dies mid-job when the job killed it (possible without uid isolation).
        if self.proc.poll() is None:
            return None
        return ExecResult(exit_code=None, signal=9, stderr=f"sandbox: the job killed its worker ({exc})")

    def dispose(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if self.uid is not None:
            # The worker may have died with a job running: kill whatever still runs under the job's uid.
            subprocess.run(
                [self.job_python, "-I", "-S", "-c", KILL_ALL_OF_MY_UID],
                user=self.uid, group=self.uid, extra_groups=[], env={}, check=False, timeout=10,
            )  # fmt: skip
        remove_tree(self.workroot)


class ProcessSandbox:
    """Local subprocess sandbox with rlimits, process-group kill and a leftover sweep; not isolation."""

    def __init__(
        self,
        *,
        pool_size: int = 2,
        max_jobs_per_worker: int = 500,
        interpreter: str | None = None,
    ) -> None:
        self.interpreter = interpreter
        self.pool = WorkerPool(
            lambda: ProcessWorker(interpreter=interpreter),
            size=pool_size,
            max_jobs_per_worker=max_jobs_per_worker,
            retries=1,
        )

    async def run(self, job: Job) -> ExecResult:
        return await self.pool.run_async(job)

    async def close(self) -> None:
        self.pool.close()

    def warm(self) -> None:
        self.pool.warm()
