"""One process-wide sandbox, so verifiers need not own one.

The configuration is chosen by whoever runs the verifiers (the run's config: `--sandbox docker|process`),
and without one it is Docker. It never switches silently: when Docker is not usable, `get_sandbox` raises
`SandboxError` saying why, instead of running untrusted code unisolated in the process sandbox; the process
sandbox is only ever built because it was configured.

The sandboxes are thread-based inside and therefore not tied to an event loop: the shared instance survives
across loops (pytest-asyncio gives each test its own), and `close_sandbox()` followed by `get_sandbox()`
simply builds a new one.
"""

from __future__ import annotations

import asyncio
import threading

from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import Sandbox
from sandboxes.config import DockerSandboxConfig, SandboxConfig

_lock = threading.Lock()
_config: SandboxConfig | None = None
_sandbox: Sandbox | None = None


def configure(config: SandboxConfig | None) -> None:
    """Choose the shared sandbox's configuration (None: Docker's defaults); takes effect at the next
    `get_sandbox` after the current one is closed."""
    global _config
    with _lock:
        _config = config


def configured() -> SandboxConfig | None:
    """The configuration set by `configure` (None: Docker's defaults), so a caller can restore it."""
    with _lock:
        return _config


def unusable_docker(config: DockerSandboxConfig) -> str | None:
    """Why the Docker sandbox of `config` cannot run here (daemon or image), or None when it can."""
    from sandboxes.availability import docker_status

    status = docker_status(config.image)
    return None if status.usable else " ".join((status.reason or "unknown").split())


async def get_sandbox() -> Sandbox:
    """The shared sandbox, built on first use from the configuration (Docker unless configured)."""
    global _sandbox
    with _lock:
        if _sandbox is not None:
            return _sandbox
        config = _config if _config is not None else DockerSandboxConfig()
    if isinstance(config, DockerSandboxConfig):
        why = await asyncio.to_thread(unusable_docker, config)
        if why is not None:
            raise SandboxError(
                f"the Docker sandbox is not usable ({why}); candidate code is never run unisolated "
                "unless the process sandbox is chosen knowingly (`--sandbox process`)"
            )
    sandbox = await asyncio.to_thread(config.build)
    with _lock:
        if _sandbox is None:
            _sandbox = sandbox
            sandbox = None  # type: ignore[assignment]
        result = _sandbox
    if sandbox is not None:  # another caller won the race
        await sandbox.close()
    return result


async def close_sandbox() -> None:
    """Close the shared sandbox (removing its containers); the next `get_sandbox` builds a fresh one."""
    global _sandbox
    with _lock:
        sandbox, _sandbox = _sandbox, None
    if sandbox is not None:
        await sandbox.close()
