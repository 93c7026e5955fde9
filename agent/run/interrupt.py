"""Ctrl-C that ends a run promptly, whatever a thread is blocked in.

Why not plain `asyncio.run`: on SIGINT it cancels the run's task (the store records the run as interrupted,
the sandbox is closed: `execute`'s finally), but then waits for every job of the loop's default executor
before it raises `KeyboardInterrupt`, and the interpreter then joins every executor thread at exit. A
thread cannot be cancelled, so Ctrl-C waited on whatever one was doing: a Docker probe or sandbox build
(`asyncio.to_thread`), litellm's first import, a reward rollout, a local llama.cpp sample of 1024 tokens on
the model's own thread (minutes on 2 cores). Shutdown then depended on that work's timeout, and the CLI's
interrupt tests waited minutes on a loaded machine.

Here the cancellation and the task's own cleanup run as before (awaited, so the record is complete), but
threads still busy afterwards are abandoned: the default executor is shut down without waiting, and the
process leaves with `leave(130)`, which runs the `atexit` handlers (the Docker sandbox removes its
containers there) and exits without joining threads. Nothing trusted is lost: a verdict not yet recorded
is redone by `assay resume`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

#: the exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED_EXIT = 130


class _AbandoningLoop(asyncio.SelectorEventLoop):
    """An event loop whose default executor is ours, so that after Ctrl-C it can be shut down without
    waiting for a thread that is still blocked."""

    def __init__(self) -> None:
        super().__init__()
        self.executor = ThreadPoolExecutor(thread_name_prefix="assay-loop")
        self.set_default_executor(self.executor)
        self.abandon_threads = False

    async def shutdown_default_executor(self, *args: Any) -> None:
        if self.abandon_threads:
            self.executor.shutdown(wait=False, cancel_futures=True)  # queued jobs never start
            return
        await super().shutdown_default_executor(*args)


def run_interruptibly(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, except that Ctrl-C does not wait for busy threads: the first SIGINT cancels
    `main` (whose finally blocks run to the end) and raises KeyboardInterrupt once `main` has unwound; a
    second SIGINT interrupts that cleanup too (asyncio.Runner's own rule)."""
    runner = asyncio.Runner(loop_factory=_AbandoningLoop)
    try:
        return runner.run(main)
    except KeyboardInterrupt:
        loop = runner.get_loop()
        assert isinstance(loop, _AbandoningLoop)
        loop.abandon_threads = True
        raise
    finally:
        runner.close()


def busy_threads() -> list[threading.Thread]:
    """Threads other than this one that the interpreter would join at exit (non-daemon, alive)."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def leave(code: int) -> NoReturn:
    """Exit with `code`. After Ctrl-C (130) with busy threads (an abandoned request or sample), the
    `atexit` handlers run and the process exits without joining the threads, so an interrupted run never
    waits on work it has given up; any other exit is `sys.exit`."""
    if code != INTERRUPTED_EXIT or not busy_threads():
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said on it
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)
