"""The soak bench's real faults (tests/support/soak_faults.py) on the real process sandbox: a sandbox job,
or the sandbox worker that forked it, SIGKILLed from outside mid-job ends as the candidate's `error` verdict
with no score (never a score), the injector finds only jobs it owns, and the next job on the pool still
scores."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest

import tests.support.soak_tasks as soak_tasks
from agent.kernel.plugins import load_suite
from agent.kernel.task import Task
from agent.kernel.types import Hypothesis, VerdictStatus
from sandboxes import close_sandbox, configure
from sandboxes.config import ProcessSandboxConfig
from sandboxes.shared import configured
from tests.support.soak_faults import descendants_of, soak_jobs


@pytest.fixture
async def soak_task(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Task]:
    """bench/soak-sandbox on this process's shared process sandbox; its jobs sleep 5 s (so a kill always
    lands mid-job), restored afterwards. (A killed worker is noticed only once its orphaned job ends: the
    bwrap init it leaves holds the host's pipe until then.)"""
    previous = configured()
    await close_sandbox()
    configure(ProcessSandboxConfig(isolation="auto", pool_size=1))
    monkeypatch.setattr(soak_tasks, "PROGRAM", soak_tasks.PROGRAM.replace("time.sleep(", "time.sleep(100 * "))
    try:
        yield load_suite("bench/soak-sandbox", "tests.support.soak_tasks").select(None)[0]
    finally:
        await close_sandbox()
        configure(previous)


async def running_job(hypothesis_id: str) -> tuple[int, int]:
    """(job pid, sandbox worker pid) of this process's soak job for the candidate, once it runs."""
    for _ in range(600):
        found = [
            (job, worker) for job, worker, h in soak_jobs(descendants_of({os.getpid()})) if h == hypothesis_id
        ]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError("the soak job never started")


@pytest.mark.parametrize("target", ["job", "worker"])
async def test_a_sandbox_process_killed_from_outside_is_an_error_verdict_never_a_score(
    soak_task: Task, target: str
) -> None:
    hypothesis = Hypothesis.create(f"{1000 + len(target)}")
    verifying = asyncio.ensure_future(soak_task.verifier.verify(hypothesis))
    job, worker = await running_job(hypothesis.id)
    assert not soak_jobs(descendants_of({-1}))  # a process this test does not own is never found
    os.kill(job if target == "job" else worker, signal.SIGKILL)
    verdict = await asyncio.wait_for(verifying, timeout=60)
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None
    assert "signal 9" in verdict.feedback


async def test_an_unkilled_soak_job_gets_the_hosts_score() -> None:
    previous = configured()
    await close_sandbox()
    configure(ProcessSandboxConfig(isolation="auto", pool_size=1))
    try:
        task = load_suite("bench/soak-sandbox", "tests.support.soak_tasks").select(None)[0]
        verdict = await task.verifier.verify(Hypothesis.create("1234"))
    finally:
        await close_sandbox()
        configure(previous)
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.score == -soak_tasks.expected("1234") / soak_tasks.MODULUS
