"""One process-wide sandbox, so verifiers need not own one.

The sandboxes are thread-based inside and therefore not tied to an event loop: the shared instance survives
across loops (pytest-asyncio gives each test its own), and `close_sandbox()` followed by `get_sandbox()`
simply builds a new one.
"""

from __future__ import annotations

import asyncio
import sys
import threading

from agent.kernel.sandbox import Sandbox
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig

_lock = threading.Lock()
_config: SandboxConfig | None = None
_sandbox: Sandbox | None = None
_warned = False

UNISOLATED_WARNING = (
    "assay: WARNING: Docker or the sandbox image is not available ({why}); running candidate code with the "
    "process sandbox, which does NOT isolate untrusted code. Run `assay sandbox check` for details."
)


def configure(config: SandboxConfig | None) -> None:
    """Choose the shared sandbox's configuration (None: automatic); takes effect at the next `get_sandbox`."""
    global _config
    with _lock:
        _config = config


def default_config() -> tuple[SandboxConfig, str | None]:
    """Docker when a daemon and the image are there, else process; the second item says why not docker."""
    from sandboxes.availability import docker_status

    status = docker_status(DockerSandboxConfig().image)
    if status.usable:
        return DockerSandboxConfig(), None
    return ProcessSandboxConfig(), status.reason


def _warn_once(why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(UNISOLATED_WARNING.format(why=why), file=sys.stderr)


async def get_sandbox() -> Sandbox:
    """The shared sandbox, built on first use from the configured (or automatic) configuration."""
    global _sandbox
    with _lock:
        if _sandbox is not None:
            return _sandbox
        config = _config
    why: str | None = None
    if config is None:
        config, why = await asyncio.to_thread(default_config)
    sandbox = await asyncio.to_thread(config.build)
    with _lock:
        if _sandbox is None:
            _sandbox = sandbox
            sandbox = None  # type: ignore[assignment]
        result = _sandbox
    if sandbox is not None:  # another caller won the race
        await sandbox.close()
    if why is not None:
        _warn_once(why)
    return result


async def close_sandbox() -> None:
    """Close the shared sandbox (removing its containers); the next `get_sandbox` builds a fresh one."""
    global _sandbox
    with _lock:
        sandbox, _sandbox = _sandbox, None
    if sandbox is not None:
        await sandbox.close()
