"""The process-wide shared sandbox: configured or automatic, usable from one event loop after another."""

from __future__ import annotations

import asyncio

import pytest
from tests.sandboxes.conftest import IMAGE, require_docker
from pydantic import TypeAdapter

import sandboxes
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig
from sandboxes.docker import DockerSandbox
from sandboxes.process import ProcessSandbox

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


async def test_automatic_choice_warns_once_without_docker(capsys: pytest.CaptureFixture[str]) -> None:
    _, why = sandboxes.shared.default_config()
    sb = await sandboxes.get_sandbox()
    await sandboxes.get_sandbox()
    err = capsys.readouterr().err
    if why is None:
        assert isinstance(sb, DockerSandbox) and "NOT isolate" not in err
    else:
        assert isinstance(sb, ProcessSandbox) and err.count("does NOT isolate untrusted code") <= 1


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
