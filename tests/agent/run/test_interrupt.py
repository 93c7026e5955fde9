"""Ctrl-C ends a run without waiting for a thread that is still blocked (issue 15): the run is recorded as
interrupted and says how to resume, while a verifier's (or a local model's) thread would go on for an hour.

The bounds below are generous (minutes on a loaded 2-core machine); what they tell apart is an exit that
waits for the blocked work (an hour) from one that does not."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.run.interrupt import busy_threads, run_interruptibly
from tests.support.cli import ASSAY, ROOT, as_foreground, cli_env
from tests.support.llm_server import ScriptedLLMServer

#: a task whose verifier blocks in a thread (as a Docker probe, a rollout or a llama.cpp sample does) for an
#: hour, after saying so in a file
BLOCKING_PLUGIN = """
import asyncio, os, time
from pathlib import Path
from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task


def block() -> None:
    Path(os.environ["BLOCKED_MARKER"]).write_text("blocked")
    time.sleep(3600)


class Blocking:
    name = "blocking"
    version = fingerprint("blocking")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        await asyncio.to_thread(block)
        return Verdict(status=VerdictStatus.OK, score=1.0)


@task("mine/blocking", "a verifier that blocks in a thread")
def make() -> Task:
    return Task("mine/blocking", "0", "Answer with a number.", parse=str.strip, verifier=Blocking())
"""


@pytest.fixture
def sigint_as_in_a_terminal() -> Iterator[None]:
    """SIGINT raising KeyboardInterrupt, as in a process started from a terminal, however the suite was
    started. A suite started with `... &` inherits an ignored SIGINT (tests/support/cli.as_foreground), and
    then the signal this test sends itself did nothing: the test waited forever (found at stop 25)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_ctrl_c_cancels_the_run_and_does_not_wait_for_a_blocked_thread() -> None:
    release = threading.Event()
    cleaned_up: list[str] = []

    async def main() -> None:
        try:
            # bounded: if the interrupt were lost, the test fails (no KeyboardInterrupt) instead of hanging
            blocked = asyncio.create_task(asyncio.to_thread(release.wait, 600))
            await asyncio.sleep(0)  # the thread has its job
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would
            await blocked
        finally:
            cleaned_up.append("finally")  # the run's own cleanup still runs (record, close the sandbox)

    try:
        with pytest.raises(KeyboardInterrupt):
            run_interruptibly(main())
        assert cleaned_up == ["finally"]
        assert not release.is_set()  # it returned while the thread still waits: nothing joined it
        assert any(t.name.startswith("assay-loop") for t in busy_threads())
    finally:
        release.set()
        for thread in busy_threads():  # let the abandoned thread end before the next test looks
            if thread.name.startswith("assay-loop"):
                thread.join(timeout=60)


def test_without_ctrl_c_it_returns_the_result_and_waits_for_its_threads() -> None:
    async def main() -> int:
        return await asyncio.to_thread(lambda: 41) + 1

    assert run_interruptibly(main()) == 42
    assert not any(t.name.startswith("assay-loop") for t in busy_threads())


def test_assay_run_exits_130_and_says_how_to_resume_while_a_verifier_thread_blocks(tmp_path: Path) -> None:
    (tmp_path / "blocking_tasks.py").write_text(BLOCKING_PLUGIN)
    db, marker = tmp_path / "runs.db", tmp_path / "blocked"
    env = cli_env(ASSAY_TASK_MODULES="blocking_tasks", BLOCKED_MARKER=str(marker))
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    with ScriptedLLMServer("37") as server:
        args = [
            "run", "mine/blocking", "--samples", "1", "--iterations", "1",
            "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db),
        ]  # fmt: skip
        proc = subprocess.Popen(
            [ASSAY, *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=as_foreground,
        )
        try:
            deadline = time.monotonic() + 300  # a loaded machine may take minutes to start
            while time.monotonic() < deadline and proc.poll() is None and not marker.exists():
                time.sleep(0.05)
            assert marker.exists(), "the verifier never started"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=200)  # far less than the blocked thread's hour
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    with sqlite3.connect(db) as conn:
        [(run_id, status)] = conn.execute("SELECT id, status FROM runs").fetchall()
    assert status == "interrupted"
    assert f"assay resume {run_id}" in err and "Traceback" not in err
