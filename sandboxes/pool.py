"""A warm pool of persistent workers, shared by the docker and process sandboxes.

The pool is deliberately thread-based and blocking inside: `run` is called through a private thread pool, so
one sandbox object serves any number of asyncio event loops (pytest gives each test its own) and the blocking
docker SDK never stalls a loop. A worker that stops answering, or reports that it could not set a job up
(its environment was damaged), is replaced, never reused; the job it was running is retried on a fresh
worker unless the loss is the job's own doing (an OOM kill of the whole container), and after `retries`
raises `SandboxError`: an infrastructure failure, never a verdict.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import ExecResult, Job
from sandboxes.protocol import (
    FrameReader,
    WorkerDamaged,
    WorkerLost,
    encode_job,
    max_reply_bytes,
    parse_reply,
)

HOST_GRACE_S = 5.0
TRANSFER_BYTES_PER_S = 20 << 20


class WorkerHandle(ABC):
    """One live worker: sends a job frame, reads the reply, and knows how to diagnose and dispose itself."""

    path: str = "/usr/local/bin:/usr/bin:/bin"
    rlimit_as: bool = False
    reader: FrameReader

    def __init__(self) -> None:
        self.jobs_done = 0
        self.generation = 0

    @abstractmethod
    def send(self, data: bytes, deadline: float) -> None: ...

    @abstractmethod
    def dispose(self) -> None:
        """Stop the worker and remove whatever it ran in; must not raise."""

    def leftover_processes(self) -> list[str]:
        """Processes of past jobs still alive in this worker's world (should always be empty)."""
        return []

    def ping(self, timeout: float = 30.0) -> None:
        """One round trip: it returns once the worker has swept the previous job (done after each reply)."""
        head = json.dumps({"ping": True}).encode()
        payload = struct.pack(">I", len(head)) + head
        deadline = time.monotonic() + timeout
        self.send(struct.pack(">I", len(payload)) + payload, deadline)
        self.reader.read_frame(deadline, 4096)

    def loss_result(self, exc: WorkerLost) -> ExecResult | None:
        """An `ExecResult` when losing the worker was the job's own doing (so retrying is pointless)."""
        return None

    def execute(self, job: Job) -> ExecResult:
        frame = encode_job(job, path=self.path, rlimit_as=self.rlimit_as)
        deadline = time.monotonic() + job.limits.wall_s + HOST_GRACE_S + len(frame) / TRANSFER_BYTES_PER_S
        self.send(frame, deadline)
        return parse_reply(self.reader.read_frame(deadline, max_reply_bytes(job)))


class WorkerPool:
    def __init__(
        self,
        spawn: Callable[[], WorkerHandle],
        *,
        size: int,
        max_jobs_per_worker: int,
        retries: int,
        on_lost: Callable[[WorkerLost], None] | None = None,
    ) -> None:
        self._spawn = spawn
        self.size = size
        self.max_jobs = max_jobs_per_worker
        self.retries = retries
        self._on_lost = on_lost
        self._idle: deque[WorkerHandle] = deque()
        self._live = 0
        self._generation = 0
        self._closed = False
        self._cond = threading.Condition()
        self._executor = ThreadPoolExecutor(max_workers=max(4, 2 * size + 2), thread_name_prefix="assay-sbx")
        self.replaced = 0
        self._disposals: list[threading.Thread] = []

    async def run_async(self, job: Job) -> ExecResult:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.run, job)

    def run(self, job: Job) -> ExecResult:
        last: WorkerLost | None = None
        for _ in range(self.retries + 1):
            worker = self._acquire()
            try:
                result = worker.execute(job)
            except WorkerLost as exc:
                # A damaged worker exits right after saying so: never mistake that for the job's doing.
                own = None if isinstance(exc, WorkerDamaged) else worker.loss_result(exc)
                self._discard(worker)
                if own is not None:
                    return own
                last = exc
                if self._on_lost is not None:
                    self._on_lost(exc)
                continue
            except BaseException:
                self._discard(worker)
                raise
            self._release(worker)
            return result
        raise SandboxError(f"sandbox failed {self.retries + 1} times in a row; last: {last}")

    def warm(self) -> None:
        """Start every worker now, in parallel, so the first jobs do not pay the start-up cost."""
        workers: list[WorkerHandle] = []
        errors: list[BaseException] = []

        def one() -> None:
            try:
                w = self._acquire()
                with self._cond:
                    workers.append(w)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for w in workers:
            self._put_back(w)
        if errors:
            raise errors[0]

    def invalidate(self) -> None:
        """Forget every worker (the daemon connection was lost): idle ones go now, busy ones on return."""
        with self._cond:
            self._generation += 1
            stale, self._idle = list(self._idle), deque()
            self._live -= len(stale)
            self._cond.notify_all()
        for w in stale:
            self._dispose_later(w)

    def _acquire(self) -> WorkerHandle:
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("sandbox is closed")
                if self._idle:
                    # Longest idle first: it has had the most time to finish sweeping its last job.
                    return self._idle.popleft()
                if self._live < self.size:
                    self._live += 1
                    generation = self._generation
                    break
                self._cond.wait()
        try:
            worker = self._spawn()
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise
        worker.generation = generation
        with self._cond:
            closed = self._closed
        if closed:  # closed while we were starting it: nobody would ever dispose of it
            worker.dispose()
            raise SandboxError("sandbox is closed")
        return worker

    def _release(self, worker: WorkerHandle) -> None:
        worker.jobs_done += 1
        if worker.jobs_done >= self.max_jobs:
            self._discard(worker)  # recycled: whatever a job changed in the worker's world goes with it
        else:
            self._put_back(worker)

    def _put_back(self, worker: WorkerHandle) -> None:
        with self._cond:
            if not self._closed and worker.generation == self._generation:
                self._idle.append(worker)
                self._cond.notify()
                return
            if worker.generation == self._generation:
                self._live -= 1
        worker.dispose()

    def _discard(self, worker: WorkerHandle) -> None:
        with self._cond:
            if worker.generation == self._generation:
                self._live -= 1
            self.replaced += 1
            self._cond.notify()
        self._dispose_later(worker)

    def _dispose_later(self, worker: WorkerHandle) -> None:
        """Dispose off the job's path (removing a container takes ~0.1-0.5 s); `close` waits for these."""
        t = threading.Thread(target=worker.dispose, daemon=True, name="assay-sbx-dispose")
        with self._cond:
            self._disposals = [d for d in self._disposals if d.is_alive()]
            self._disposals.append(t)
        t.start()

    def idle_workers(self) -> list[WorkerHandle]:
        """A snapshot of the idle workers, for health checks and tests."""
        with self._cond:
            return list(self._idle)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            self._live -= len(idle)
            self._cond.notify_all()
        threads = [threading.Thread(target=w.dispose) for w in idle]
        for t in threads:
            t.start()
        with self._cond:
            threads += self._disposals
        for t in threads:
            t.join()
        self._executor.shutdown(wait=False, cancel_futures=True)
