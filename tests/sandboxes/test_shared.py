"""The process-wide shared sandbox: configured or Docker (never a silent fallback), usable from one event loop
after another."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import TypeAdapter

import sandboxes
from agent.kernel.errors import SandboxError
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig
from sandboxes.docker import DockerSandbox
from sandboxes.process import ProcessSandbox
from tests.support.sandbox import IMAGE, require_docker

JOB = sandboxes.Job(command=["python3", "-c", "import sys; print(sys.argv[0] or 'ran')"])


@pytest.fixture(autouse=True)
async def reset_shared():
    yield
    await sandboxes.close_sandbox()
    sandboxes.configure(None)


def test_config_union_builds_by_tag() -> None:
    adapter = TypeAdapter(SandboxConfig)
    assert isinstance(adapter.validate_python({"type": "process"}), ProcessSandboxConfig)
    docker_cfg = adapter.validate_python({"type": "docker", "pool_size": 3})
    assert isinstance(docker_cfg, DockerSandboxConfig) and docker_cfg.pool_size == 3
    with pytest.raises(ValueError):
        adapter.validate_python({"type": "vm"})


async def test_shared_process_sandbox_first_loop() -> None:
    sandboxes.configure(ProcessSandboxConfig())
    sb = await sandboxes.get_sandbox()
    assert isinstance(sb, ProcessSandbox)
    assert await sandboxes.get_sandbox() is sb
    assert (await sb.run(JOB)).stdout == "-c\n"


async def test_shared_sandbox_survives_a_new_loop() -> None:
    # pytest-asyncio gave this test a new event loop: the shared sandbox built in it must still work here,
    # and after close a fresh one is built.
    sandboxes.configure(ProcessSandboxConfig())
    first = await sandboxes.get_sandbox()
    assert (await first.run(JOB)).ok
    await sandboxes.close_sandbox()
    second = await sandboxes.get_sandbox()
    assert second is not first and (await second.run(JOB)).ok


async def test_no_docker_raises_and_never_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # a dead socket: the probe fails at once; the old behaviour built an unisolated ProcessSandbox here
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/assay-test/docker.sock")
    with pytest.raises(SandboxError, match=r"Docker sandbox is not usable .*--sandbox process"):
        await sandboxes.get_sandbox()
    with pytest.raises(SandboxError):  # nothing was cached: it asks again, and still refuses
        await sandboxes.get_sandbox()
    sandboxes.configure(ProcessSandboxConfig())  # chosen knowingly: then, and only then, the process one
    assert isinstance(await sandboxes.get_sandbox(), ProcessSandbox)


@pytest.mark.docker
async def test_unconfigured_is_docker() -> None:
    require_docker()
    sb = await sandboxes.get_sandbox()
    assert isinstance(sb, DockerSandbox)
    assert (await sb.run(JOB)).stdout == "-c\n"


@pytest.mark.docker
async def test_shared_docker_sandbox() -> None:
    require_docker()
    sandboxes.configure(DockerSandboxConfig(image=IMAGE, pool_size=1))
    sb = await sandboxes.get_sandbox()
    assert isinstance(sb, DockerSandbox)
    assert (await sb.run(JOB)).stdout == "-c\n"


async def test_more_jobs_than_workers_queue_and_all_finish() -> None:
    sandboxes.configure(ProcessSandboxConfig(pool_size=2))
    sb = await sandboxes.get_sandbox()
    jobs = [
        sandboxes.Job(command=["python3", "-c", f"import time; time.sleep(0.2); print({i})"])
        for i in range(6)
    ]
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(sb.run(j) for j in jobs))
    elapsed = asyncio.get_running_loop().time() - started
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
    assert elapsed >= 0.55  # 6 jobs of 0.2 s on 2 workers: at least 3 rounds, so the pool bound held
