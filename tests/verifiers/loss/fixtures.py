"""Sandboxes for the loss tests: process always, Docker when a daemon and an image with torch exist.

The Docker case skips, with the probe's reason, only when the daemon or image is missing or the daemon does
not answer; set ASSAY_SANDBOX_IMAGE to test another image than the default.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from agent.kernel.sandbox import Job, Limits, Sandbox
from sandboxes.availability import docker_status
from sandboxes.config import DEFAULT_IMAGE, DockerSandboxConfig, ProcessSandboxConfig

PROBE = Job(command=["python3", "-c", "import numpy, torch"], limits=Limits(wall_s=60, memory_mb=4096))


def _build(kind: str) -> Sandbox:
    if kind == "docker":
        image = os.environ.get("ASSAY_SANDBOX_IMAGE", DEFAULT_IMAGE)
        status = docker_status(image)
        if not status.usable:
            pytest.skip(f"docker sandbox unavailable: {status.reason}")
        return DockerSandboxConfig(image=image).build()
    return ProcessSandboxConfig().build()


@pytest.fixture(
    scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)], ids=lambda k: k
)
def loss_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """One sandbox per module and kind, checked to run torch jobs (the loss trainer needs it)."""
    sandbox = _build(request.param)
    try:
        probe = asyncio.run(sandbox.run(PROBE))
        if not probe.ok:
            pytest.skip(f"{request.param} sandbox jobs cannot import torch: {probe.stderr.strip()[-300:]}")
        yield sandbox
    finally:
        asyncio.run(sandbox.close())
