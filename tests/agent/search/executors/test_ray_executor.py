"""The Ray executor on a real local cluster (a head and a worker node): the same verdicts as the local
executor, a worker killed mid-job (the job is retried elsewhere), a worker lost on every try (SandboxError,
which the loop records as `error`), and a worker whose sandbox differs (refused, never cached)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.kernel.errors import SandboxError, VerifierError
from agent.kernel.plugins import REGISTRY, load_suite
from agent.kernel.task import Task
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from agent.run.remote import RunVerifiers
from agent.run.sandbox import sandbox_identity
from agent.search.executors import ExecutorContext, LocalExecutor, RayExecutorConfig
from agent.search.executors.ray import RayExecutor
from sandboxes import close_sandbox, configure
from sandboxes.config import ProcessSandboxConfig
from sandboxes.shared import configured
from tests.support.ray_cluster import RayCluster

FAULTS = "tests.support.ray_tasks"

CORRECT = """
def has_close_elements(numbers, threshold):
    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])
"""
CANDIDATES = {
    "correct": CORRECT,
    "wrong": "def has_close_elements(numbers, threshold):\n    return False\n",
    "raises": "def has_close_elements(numbers, threshold):\n    raise ValueError('no')\n",
    # a candidate that kills its own sandbox process: its own verdict, not a lost worker
    "kills itself": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
}


def comparable(verdict: Verdict) -> dict[str, Any]:
    return verdict.model_dump(exclude={"duration_s"})


@pytest.fixture
async def process_sandbox_configured() -> AsyncIterator[ProcessSandboxConfig]:
    """This process's shared sandbox set to the process sandbox (as `--sandbox process` does), restored."""
    previous = configured()
    config = ProcessSandboxConfig()
    await close_sandbox()
    configure(config)
    try:
        yield config
    finally:
        await close_sandbox()
        configure(previous)


async def ray_executor(
    cluster: RayCluster, source: RunVerifiers, problems: Sequence[Task], identity: str, **config: Any
) -> RayExecutor:
    settings = RayExecutorConfig(address=cluster.address, **config)
    executor = settings.build(ExecutorContext(2, problems, source, identity))
    assert isinstance(executor, RayExecutor)
    return executor


async def test_the_same_verdicts_as_the_local_executor_for_a_sandboxed_and_a_sympy_task(
    cluster: RayCluster, process_sandbox_configured: ProcessSandboxConfig
) -> None:
    code = load_suite("code/humaneval").select("0")
    math = load_suite("math/derivative").select("0")
    identity = await sandbox_identity(code)
    assert identity.startswith("process:")
    jobs = [(code[0], Hypothesis.create(text)) for text in CANDIDATES.values()]
    jobs += [(math[0], Hypothesis.create(math[0].parse(f"\\boxed{{{a}}}"))) for a in ("4*x**3+6*x-5", "x")]

    local = LocalExecutor(2)
    expected = [await local.verify("search", t.verifier, h) for t, h in jobs]
    held_out = await local.verify("held_out", code[0].held_out, jobs[0][1])  # type: ignore[arg-type]
    assert [(v.status.value, v.score) for v in expected] == [
        ("ok", 1.0),
        ("fail", 0.5),
        ("fail", 0.0),
        ("error", None),
        ("ok", 1.0),
        ("fail", 0.0),
    ]

    remote: list[Verdict] = []
    for name, problems in (("code/humaneval", code), ("math/derivative", math)):
        source = RunVerifiers.of_task(name, REGISTRY.get(name).module, "0", process_sandbox_configured)
        executor = await ray_executor(cluster, source, problems, await sandbox_identity(problems))
        try:
            mine = [(t, h) for t, h in jobs if t.key == problems[0].key]
            remote += await asyncio.gather(*(executor.verify("search", t.verifier, h) for t, h in mine))
            if name == "code/humaneval":
                remote_held_out = await executor.verify("held_out", code[0].held_out, jobs[0][1])  # type: ignore[arg-type]
        finally:
            await executor.aclose()
    assert [comparable(v) for v in remote] == [comparable(v) for v in expected]
    assert comparable(remote_held_out) == comparable(held_out)


async def faults_executor(cluster: RayCluster, **config: Any) -> tuple[RayExecutor, Task]:
    problems = load_suite("raytest/faults", FAULTS).select(None)
    source = RunVerifiers.of_task("raytest/faults", FAULTS, None, None)
    return await ray_executor(cluster, source, problems, "none", workers=2, slots=1, **config), problems[0]


async def test_a_worker_killed_mid_job_has_its_job_retried_on_another_worker(
    cluster: RayCluster, tmp_path: Path
) -> None:
    executor, task = await faults_executor(cluster, attempts=3)
    try:
        job = asyncio.ensure_future(
            executor.verify("search", task.verifier, Hypothesis.create(f"hold:{tmp_path}"))
        )
        marker = tmp_path / "first-worker.pid"
        for _ in range(1200):  # the worker writes its pid once it holds the job
            if marker.exists() and marker.read_text():
                break
            await asyncio.sleep(0.1)
        victim = int(marker.read_text())
        assert victim in cluster.processes()  # one of this cluster's workers, never anything else
        os.kill(victim, signal.SIGKILL)
        verdict = await asyncio.wait_for(job, timeout=300)
    finally:
        await executor.aclose()
    assert verdict.status is VerdictStatus.OK and verdict.score == 1.0
    answered_by = int(verdict.feedback.rsplit(" ", 1)[1])
    assert answered_by != victim


async def test_a_worker_lost_on_every_attempt_is_an_infrastructure_failure_never_a_verdict(
    cluster: RayCluster,
) -> None:
    executor, task = await faults_executor(cluster, attempts=2)
    try:
        with pytest.raises(SandboxError, match="lost 2 times"):
            await asyncio.wait_for(executor.verify("search", task.verifier, Hypothesis.create("die")), 300)
    finally:
        await executor.aclose()


async def test_a_worker_whose_sandbox_reports_another_identity_is_refused(cluster: RayCluster) -> None:
    """The verdict cache is keyed on the run's sandbox identity: a verdict from a worker whose sandbox is
    another one must not be cached (or scored) under it."""
    problems = load_suite("raytest/faults", FAULTS).select(None)
    source = RunVerifiers.of_task("raytest/faults", FAULTS, None, None)
    executor = await ray_executor(cluster, source, problems, "process:bwrap:/somewhere/else", workers=1)
    try:
        with pytest.raises(SandboxError, match="not the run's"):
            await executor.verify("search", problems[0].verifier, Hypothesis.create("other"))
    finally:
        await executor.aclose()


async def test_a_verifier_that_is_not_the_runs_own_cannot_be_sent(cluster: RayCluster) -> None:
    problems = load_suite("raytest/faults", FAULTS).select(None)
    source = RunVerifiers.of_task("raytest/faults", FAULTS, None, None)
    executor = await ray_executor(cluster, source, problems, "none", workers=1)
    stranger = load_suite("raytest/guess", FAULTS).select(None)[0].verifier
    try:
        with pytest.raises(VerifierError, match="no problem of this run"):
            await executor.verify("search", stranger, Hypothesis.create("37"))
    finally:
        await executor.aclose()


def test_the_process_sandbox_recipe_pins_this_interpreter() -> None:
    """Ray starts workers as `python3`; the sandbox identity names the interpreter, so it is pinned."""
    source = RunVerifiers.of_task("code/humaneval", None, "0", ProcessSandboxConfig())
    assert isinstance(source.sandbox, ProcessSandboxConfig) and source.sandbox.interpreter == sys.executable


async def test_workers_the_cluster_has_no_room_for_are_an_infrastructure_failure_not_a_hang(
    cluster: RayCluster,
) -> None:
    problems = load_suite("raytest/faults", FAULTS).select(None)
    source = RunVerifiers.of_task("raytest/faults", FAULTS, None, None)
    executor = await ray_executor(
        cluster, source, problems, "none", workers=1, cpus_per_worker=64, start_timeout_s=3
    )
    try:
        with pytest.raises(SandboxError, match="did not start within 3 s"):
            await executor.verify("search", problems[0].verifier, Hypothesis.create("other"))
    finally:
        await executor.aclose()
