"""The child-process runner: real forked processes, really killed; nothing mocked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

from sandboxes.child import ChildResult, run_in_child


def _gone(pid: int | None) -> bool:
    """True once the process no longer exists (not even as a zombie)."""
    assert pid is not None
    return not Path(f"/proc/{pid}").exists()


async def test_returns_the_value() -> None:
    result = await run_in_child(sum, [1, 2, 3], timeout_s=10)
    assert result.status == "ok"
    assert result.value == 6
    assert result.pid is not None and result.pid != os.getpid()
    assert _gone(result.pid)


async def test_an_exception_comes_back_as_data() -> None:
    result = await run_in_child(int, "not a number", timeout_s=10)
    assert result.status == "error"
    assert result.error_type == "ValueError"
    assert "not a number" in (result.error_message or "")


async def test_timeout_kills_the_child() -> None:
    start = time.monotonic()
    result = await run_in_child(time.sleep, 60, timeout_s=0.5)
    elapsed = time.monotonic() - start
    assert result.status == "timeout"
    assert elapsed < 5
    assert _gone(result.pid)


async def test_a_dying_child_is_a_crash() -> None:
    result = await run_in_child(os._exit, 3, timeout_s=10)
    assert result.status == "crashed"
    assert result.exitcode == 3
    assert _gone(result.pid)


async def test_memory_limit_turns_a_blow_up_into_an_error() -> None:
    result = await run_in_child(bytearray, 3 * 1024**3, timeout_s=20, memory_bytes=1024**3)
    assert result.status == "error"
    assert result.error_type == "MemoryError"


async def test_many_children_run_concurrently_and_all_finish() -> None:
    results: list[ChildResult] = await asyncio.gather(
        *[run_in_child(pow, i, 2, timeout_s=20) for i in range(12)]
    )
    assert [r.value for r in results] == [i * i for i in range(12)]
    assert len({r.pid for r in results}) == 12  # a fresh process per call
    assert all(_gone(r.pid) for r in results)


def _main_module_file() -> str | None:
    return getattr(sys.modules["__main__"], "__file__", None)


async def test_the_child_does_not_rerun_the_main_module() -> None:
    # the main module is pytest's entry script; a child that re-imported it would be slow and could recurse
    assert _main_module_file() is not None  # here, __main__ is pytest's script
    result = await run_in_child(_main_module_file, timeout_s=10)
    assert result.status == "ok"
    assert result.value is None


def _forkserver_children() -> set[int]:
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{server}\n" in status:
                children.add(int(entry.name))
    return children


async def test_cancelling_the_call_kills_the_child() -> None:
    await run_in_child(abs, -1, timeout_s=10)  # the forkserver is up
    before = _forkserver_children()
    call = asyncio.ensure_future(run_in_child(time.sleep, 60, timeout_s=120))
    for _ in range(100):  # wait until the sleeping child exists
        await asyncio.sleep(0.05)
        if _forkserver_children() - before:
            break
    started = _forkserver_children() - before
    assert started, "the child never started"
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    assert all(_gone(pid) for pid in started)
