"""Run one picklable function in its own short-lived process, killed on a wall-clock timeout.

SymPy can hang or eat all memory on a hostile expression (`expand((x+1)**10**9)`), and a thread cannot be
stopped, so every check runs in a child process that really dies. Children are forked from a
`forkserver` that has SymPy preloaded: a fork costs milliseconds, while a fresh interpreter importing SymPy
costs half a second. The forkserver process is single-threaded, so forking it is safe even though the
caller runs an asyncio loop with worker threads. Rlimits in the child turn a memory blow-up into a
`MemoryError` inside the child instead of a problem for the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import resource
import signal
import sys
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import forkserver, popen_forkserver, spawn, util
from multiprocessing.context import ForkServerContext, reduction, set_spawning_popen
from typing import Any, Literal

from agent.kernel.errors import VerifierError

#: modules imported once in the forkserver so that each forked check starts with them loaded; callers add
#: theirs with `preload()` (the SymPy verifier adds SymPy and its warm-up) before the first child starts
PRELOAD: list[str] = ["sandboxes.child"]
DEFAULT_MEMORY_BYTES = 2 * 1024**3

ChildStatus = Literal["ok", "timeout", "error", "crashed"]


@dataclass(frozen=True)
class ChildResult:
    """How a child run ended. `error` means the function raised; `crashed` means the process died."""

    status: ChildStatus
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    exitcode: int | None = None
    duration_s: float = 0.0
    pid: int | None = None


_context: ForkServerContext | None = None
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


class _LeanPopen(popen_forkserver.Popen):
    """The stock forkserver launch, minus re-running the caller's `__main__` in every child.

    Stock multiprocessing re-imports the main script (or e.g. the `pytest` console script) in each child,
    which costs an import per check and runs unguarded top-level code. The checks only need their own
    module, which the pickled target names, so the main-module entries are dropped from the data.
    """

    def _launch(self, process_obj: Any) -> None:  # mirrors CPython 3.11-3.13 popen_forkserver.Popen._launch
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _LeanProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        if sys.version_info >= (3, 14):  # the launch protocol changed; the stock one is correct, just slower
            return popen_forkserver.Popen(process_obj)
        return _LeanPopen(process_obj)


def preload(*modules: str) -> None:
    """Have the forkserver import `modules` once, so every child starts with them loaded.

    Effective only before the forkserver starts (the first `run_in_child`); later calls change nothing,
    which costs speed, never correctness: a child imports what it needs either way.
    """
    for module in modules:
        if module not in PRELOAD:
            PRELOAD.append(module)
    if _context is not None:
        _context.set_forkserver_preload(list(PRELOAD))


def _get_context() -> ForkServerContext:
    """The shared forkserver context; the preload list only takes effect if no forkserver runs yet."""
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        _context = ctx
    return _context


def _ensure_forkserver() -> None:
    _get_context()
    forkserver.ensure_running()


async def start_forkserver() -> None:
    """Start the forkserver (SymPy import and warm-up, about 2 s) without blocking the event loop; call it
    early to take that cost off the first check. Later calls return at once."""
    await asyncio.get_running_loop().run_in_executor(None, _ensure_forkserver)


def _semaphore(limit: int) -> asyncio.Semaphore:
    """One semaphore per event loop: an asyncio primitive cannot be shared between loops."""
    loop = asyncio.get_running_loop()
    sem = _semaphores.get(loop)
    if sem is None:
        sem = asyncio.Semaphore(limit)
        _semaphores[loop] = sem
    return sem


def max_concurrency() -> int:
    """Concurrent children: more than the cores would only stretch every check's wall clock into a timeout."""
    return int(os.environ.get("ASSAY_CHILD_CONCURRENCY", "0")) or max(1, os.cpu_count() or 1)


def _apply_limits(memory_bytes: int | None, cpu_seconds: int | None) -> None:
    if memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child_main(
    conn: multiprocessing.connection.Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    memory_bytes: int | None,
    cpu_seconds: int | None,
) -> None:
    """Entry point inside the child: limits first, then the function; every outcome goes back as data."""
    try:
        _apply_limits(memory_bytes, cpu_seconds)
        value = fn(*args)
        message: tuple[Any, ...] = ("ok", value)
    except BaseException as exc:  # the child reports everything, including MemoryError and RecursionError
        detail = str(exc)[:2000] or traceback.format_exc(limit=3)[-2000:]
        message = ("error", type(exc).__name__, detail)
    try:
        conn.send(message)
    except BaseException as exc:  # e.g. an unpicklable return value
        conn.send(("error", type(exc).__name__, f"could not send the result back: {exc}"[:2000]))
    finally:
        conn.close()


async def _wait_readable(fds: list[int], timeout_s: float) -> bool:
    """Wait until any fd is readable; False on timeout. Uses the loop's selector, so no thread per child."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    for fd in fds:
        loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(fut, timeout_s)
        return True
    except TimeoutError:
        return False
    finally:
        for fd in fds:
            loop.remove_reader(fd)


async def run_in_child(
    fn: Callable[..., Any],
    *args: Any,
    timeout_s: float,
    memory_bytes: int | None = DEFAULT_MEMORY_BYTES,
) -> ChildResult:
    """Run `fn(*args)` in a fresh forked process; kill it after `timeout_s` seconds of wall clock.

    `fn`, `args` and the return value must be picklable. At most `max_concurrency()` children run at once
    per event loop; the timeout counts from the child's start, not from the wait for a slot.
    """
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    if _context is None:
        await start_forkserver()
    ctx = _get_context()
    async with _semaphore(max_concurrency()):
        recv, send = ctx.Pipe(duplex=False)
        cpu_seconds = math.ceil(timeout_s) + 1
        proc = _LeanProcess(target=_child_main, args=(send, fn, args, memory_bytes, cpu_seconds), daemon=True)
        try:
            proc.start()
        except Exception as exc:
            recv.close()
            send.close()
            raise VerifierError(f"could not start a child process: {type(exc).__name__}: {exc}") from exc
        send.close()  # the child holds its own copy; ours must go so a dead child reads as EOF
        start = time.monotonic()
        try:
            return await _supervise(proc, recv, start, timeout_s)
        except BaseException:  # cancelled (or worse): the child must not outlive the call
            with contextlib.suppress(ProcessLookupError, ValueError):
                proc.kill()
            proc.join(2.0)
            raise
        finally:
            recv.close()
            with contextlib.suppress(ValueError):  # still running only if the kill itself failed
                proc.close()


async def _supervise(
    proc: multiprocessing.process.BaseProcess,
    recv: multiprocessing.connection.Connection,
    start: float,
    timeout_s: float,
) -> ChildResult:
    pid = proc.pid
    finished = await _wait_readable([recv.fileno(), proc.sentinel], timeout_s)
    message: tuple[Any, ...] | None = None
    if finished and recv.poll():
        try:
            message = recv.recv()
        except (EOFError, OSError):
            message = None
    duration = time.monotonic() - start
    if not finished:
        await _kill(proc)
        return ChildResult("timeout", duration_s=duration, exitcode=proc.exitcode, pid=pid)
    # The child has sent its result (or died); reap it, killing it if it lingers after sending.
    if not await _wait_readable([proc.sentinel], 2.0):
        await _kill(proc)
    else:
        proc.join(0)
    exitcode = proc.exitcode
    if message is None:
        if exitcode == -signal.SIGXCPU:
            return ChildResult("timeout", duration_s=duration, exitcode=exitcode, pid=pid)
        return ChildResult(
            "crashed",
            error_type="Crashed",
            error_message=f"the process died (exit code {exitcode})",
            exitcode=exitcode,
            duration_s=duration,
            pid=pid,
        )
    if message[0] == "ok":
        return ChildResult("ok", value=message[1], exitcode=exitcode, duration_s=duration, pid=pid)
    return ChildResult(
        "error",
        error_type=message[1],
        error_message=message[2],
        exitcode=exitcode,
        duration_s=duration,
        pid=pid,
    )


async def _kill(proc: multiprocessing.process.BaseProcess) -> None:
    """SIGKILL, then wait for the forkserver to report the exit so no process is left behind."""
    with contextlib.suppress(ProcessLookupError, ValueError):
        proc.kill()
    if await _wait_readable([proc.sentinel], 5.0):
        proc.join(0)
    else:  # pragma: no cover - a SIGKILLed process that is not reaped in 5 s means the host is in trouble
        proc.join(1.0)
