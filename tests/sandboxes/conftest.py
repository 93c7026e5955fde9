"""Fixtures: real sandboxes. Docker ones skip, with the reason, only when no daemon or image is reachable."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from sandboxes.availability import docker_status
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig
from sandboxes.docker import DockerSandbox
from sandboxes.process import ProcessSandbox

IMAGE = os.environ.get("ASSAY_SANDBOX_IMAGE", DockerSandboxConfig().image)


def require_docker() -> None:
    status = docker_status(IMAGE)
    if not status.usable:
        pytest.skip(f"docker sandbox unavailable: {status.reason}")


@pytest.fixture(scope="module")
def process_sandbox() -> Iterator[ProcessSandbox]:
    sandbox = ProcessSandboxConfig(pool_size=1).build()
    assert isinstance(sandbox, ProcessSandbox)
    yield sandbox
    asyncio.run(sandbox.close())


@pytest.fixture(scope="module")
def docker_sandbox() -> Iterator[DockerSandbox]:
    require_docker()
    sandbox = DockerSandboxConfig(image=IMAGE, pool_size=1).build()
    assert isinstance(sandbox, DockerSandbox)
    yield sandbox
    asyncio.run(sandbox.close())
