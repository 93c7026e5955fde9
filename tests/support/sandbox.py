"""The one way tests get a real sandbox: built from the real configs, skipped with the reason when unusable.

`tests/conftest.py` turns these into the `sandbox` (process and Docker), `process_sandbox` and
`docker_sandbox` fixtures; tests that build a sandbox of their own (with other settings, or in a
subprocess) use `build` and `IMAGE` directly. Set ASSAY_SANDBOX_IMAGE to test against another image.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import Any, Literal

import pytest

from agent.kernel.sandbox import Job, Limits, Sandbox
from sandboxes.availability import docker_status
from sandboxes.config import DEFAULT_IMAGE, DockerSandboxConfig, ProcessSandboxConfig

Kind = Literal["process", "docker"]

IMAGE = os.environ.get("ASSAY_SANDBOX_IMAGE", DEFAULT_IMAGE)

#: importing torch needs far more address space and time than the default job limits give
PROBE_LIMITS = Limits(wall_s=60, memory_mb=4096)


def require_docker() -> None:
    """Skip, with the probe's reason, unless the Docker daemon answers and has IMAGE."""
    status = docker_status(IMAGE)
    if not status.usable:
        pytest.skip(f"docker sandbox unavailable: {status.reason}")


def require_bwrap() -> None:
    """Skip, with the probe's reason, unless the process sandbox can run its workers under bubblewrap."""
    from sandboxes.availability import process_isolation

    isolation = process_isolation()
    if isolation.level != "bwrap":
        pytest.skip(f"bwrap isolation unavailable here: {isolation.reason}")


def build(kind: Kind, **overrides: Any) -> Sandbox:
    """A new sandbox of `kind` from its real config (`overrides` are config fields); the caller closes it."""
    if kind == "process":
        return ProcessSandboxConfig(**overrides).build()
    if kind == "docker":
        require_docker()
        return DockerSandboxConfig(**{"image": IMAGE, **overrides}).build()
    raise ValueError(f"unknown sandbox kind {kind!r}")


def require_modules(sandbox: Sandbox, modules: Iterable[str], kind: str) -> None:
    """Skip, with the probe's stderr, unless a job in `sandbox` can import every one of `modules`."""
    names = list(dict.fromkeys(modules))
    if not names:
        return
    probe = Job(command=["python3", "-c", f"import {', '.join(names)}"], limits=PROBE_LIMITS)
    result = asyncio.run(sandbox.run(probe))
    if not result.ok:
        why = result.stderr.strip()[-300:] or f"exit {result.exit_code}, timed out: {result.timed_out}"
        pytest.skip(f"{kind} sandbox jobs cannot import {', '.join(names)}: {why}")
