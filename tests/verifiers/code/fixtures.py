"""The sandboxes the code-verifier and code-task tests run against: the process sandbox always, and the
Docker warm pool where a daemon and the sandbox image are there (marked `docker`, skipped with the reason
otherwise). Set ASSAY_SANDBOX_IMAGE to test against another image than the default."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from sandboxes import DockerSandboxConfig, ProcessSandboxConfig, Sandbox
from sandboxes.availability import docker_status
from sandboxes.config import DEFAULT_IMAGE

SANDBOX_KINDS = ["process", pytest.param("docker", marks=pytest.mark.docker)]


def build_sandbox(kind: str) -> Sandbox:
    if kind == "process":
        return ProcessSandboxConfig().build()
    image = os.environ.get("ASSAY_SANDBOX_IMAGE", DEFAULT_IMAGE)
    status = docker_status(image)
    if not status.usable:
        pytest.skip(f"the Docker sandbox is not available: {status.reason}")
    return DockerSandboxConfig(image=image).build()


@pytest.fixture(scope="module", params=SANDBOX_KINDS)
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    box = build_sandbox(request.param)
    yield box
    asyncio.run(box.close())
