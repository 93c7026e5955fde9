"""The process sandbox: the same persistent worker as in Docker, run as a local subprocess.

Where bubblewrap can create namespaces (`isolation="auto"` probes, `"bwrap"` requires it), each worker runs
inside its own bwrap sandbox (see `sandboxes.bwrap`): no network, a private read-only system, the venv's
Python read-only (so loss jobs have torch), and nothing writable outside tmpfs inside the namespace. Where it
cannot, the sandbox is "plain" and says so (`isolation`, `identity`, `assay sandbox check`, a warning): there
is then no filesystem or network isolation, and it is only for trusted code.

Either way, when the host runs as root each worker drops every job to its own unused uid, so a job cannot
signal the worker or other processes (`kill -9 -1` reaches only itself), cannot read other processes'
environments, and RLIMIT_NPROC bounds a fork bomb. In plain mode that uid must be able to run Python: ours
when other users can reach it, else the system's /usr/bin/python3 (install python3-numpy/python3-sympy for
the packages), and the worker clears the uid's files from the host's shared temporary directories between
jobs. As an ordinary user, a plain job runs as that user and can do whatever that user can.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import ExecResult, Job
from sandboxes.bwrap import WORKROOT, BwrapPlan, bwrap_status
from sandboxes.cpu import vector_level
from sandboxes.pool import WorkerHandle, WorkerPool
from sandboxes.protocol import FdSource, FrameReader, WorkerLost
from sandboxes.worker import remove_tree, shipped_source

Isolation = Literal["auto", "bwrap", "plain"]
WORKER_SOURCE = shipped_source()
START_TIMEOUT_S = 15.0
#: the host's directories any uid may write; a plain worker clears its job uid's entries from them
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
#: inside bwrap, the only writable places besides the work root (all tmpfs of the sandbox's own)
BWRAP_WRITABLE = ("/tmp", "/dev/shm", "/dev/mqueue")
log = logging.getLogger("assay.sandbox")
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


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def plain_job_python(python: str) -> str:
    """The interpreter plain jobs run: ours, unless they run as another uid that cannot reach it."""
    return python if os.geteuid() != 0 or world_executable(python) else "/usr/bin/python3"


class ProcessWorker(WorkerHandle):
    rlimit_as = True

    def __init__(self, *, interpreter: str | None = None, plan: BwrapPlan | None = None) -> None:
        super().__init__()
        python = interpreter or sys.executable
        self.python = python
        self.plan = plan
        # As root a job never runs as root: `kill -9 -1` would take the whole machine down with it. It gets an
        # unused uid, which in plain mode then also needs an interpreter it may run.
        self.uid = random.randint(1_000_000, 1_999_999) if os.geteuid() == 0 else None
        worker_args = ["-I", "-S", "-c", WORKER_SOURCE]
        if plan is not None:  # the work root is a tmpfs inside the namespace: nothing to make or remove here
            self.workroot: str | None = None
            self.job_python = plan.python
            self.path = plan.path
            worker_args += ["--workroot", WORKROOT, "--clean-ipc"]
            worker_args += [arg for d in BWRAP_WRITABLE for arg in ("--clean", d)]
            cmd = plan.command(worker_args)
        else:
            self.workroot = tempfile.mkdtemp(prefix="assay-proc-")
            self.job_python = plain_job_python(python)
            self.path = f"{Path(self.job_python).parent}:/usr/local/bin:/usr/bin:/bin"
            worker_args += ["--workroot", self.workroot, "--remove-workroot"]
            if (
                self.uid is not None
            ):  # the uid is this worker's alone: clearing its traces touches no one else
                worker_args += ["--clean-ipc"]
                worker_args += [arg for d in SHARED_WRITABLE if os.path.isdir(d) for arg in ("--clean", d)]
            cmd = [python, *worker_args]
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
        if self.plan is not None:
            # bwrap's init (its only child) is pid 1 of the sandbox's pid namespace: killing it makes the
            # kernel kill every process in there, a job's included. bwrap has not reaped it while it lives,
            # so the pid cannot have been reused.
            # bwrap then exits by itself, having reaped it (no zombie left for the host's init).
            for pid in _children(self.proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
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
        if self.uid is not None and self.plan is None:
            # The worker may have died with a job running: kill whatever still runs under the job's uid.
            # (Under bwrap the kernel did: the pid namespace died with its init.)
            subprocess.run(
                [self.job_python, "-I", "-S", "-c", KILL_ALL_OF_MY_UID],
                user=self.uid, group=self.uid, extra_groups=[], env={}, check=False, timeout=10,
            )  # fmt: skip
        if self.workroot is not None:
            remove_tree(self.workroot)


class ProcessSandbox:
    """Local subprocess sandbox: a bwrap sandbox per worker where the machine allows, else plain (rlimits,
    process-group kill and a leftover sweep, not isolation); `isolation` says which."""

    def __init__(
        self,
        *,
        pool_size: int = 2,
        max_jobs_per_worker: int = 500,
        interpreter: str | None = None,
        isolation: Isolation = "auto",
        tmp_mb: int = 64,
        work_mb: int = 256,
        retries: int = 1,
    ) -> None:
        self.interpreter = interpreter
        python = interpreter or sys.executable
        plan: BwrapPlan | None = None
        self.reason: str | None = "plain isolation was chosen"
        if isolation != "plain":
            status = bwrap_status(python, tmp_mb=tmp_mb, work_mb=work_mb)
            plan, self.reason = status.plan, status.reason
            if plan is None and isolation == "bwrap":
                raise SandboxError(f"bwrap isolation is not available here: {status.reason}")
            if plan is None:
                log.warning("process sandbox runs jobs WITHOUT isolation: %s", status.reason)
        self.plan = plan
        self.isolation: Literal["bwrap", "plain"] = "bwrap" if plan is not None else "plain"
        self.job_python = plan.python if plan is not None else plain_job_python(python)
        self._identity = f"process:{self.isolation}:{self.job_python}:{vector_level()}"
        self.pool = WorkerPool(
            lambda: ProcessWorker(interpreter=interpreter, plan=plan),
            size=pool_size,
            max_jobs_per_worker=max_jobs_per_worker,
            retries=retries,
        )

    @property
    def identity(self) -> str:
        """What decides a job's outcome besides the job: the isolation, the interpreter jobs run and the
        CPU's vector level (sandboxes/cpu.py: numerics round differently on AVX2 and AVX-512). A
        verdict cached under one identity is never reused under another (a plain sandbox's torch-less
        errors must not become a bwrap or Docker run's verdicts)."""
        return self._identity

    async def run(self, job: Job) -> ExecResult:
        return await self.pool.run_async(job)

    async def close(self) -> None:
        self.pool.close()

    def warm(self) -> None:
        self.pool.warm()
