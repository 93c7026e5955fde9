"""Where a run's candidate code runs: resolved once, before the first model call, and recorded with the run.

Docker is the default for every task that runs candidate code. When it is not usable the run stops before
anything is written, in one line that says why and how to choose the unisolated process sandbox knowingly;
there is no silent fallback. Choosing `process` is allowed and said once, as a warning. Tasks that run no
candidate code (math) need no sandbox and are never probed.

The sandbox's `identity` (backend, isolation, the software jobs run) is part of every verdict's cache key:
`sandbox_identity` reads it from the shared sandbox the verifiers will use, so a verdict judged in one
sandbox (a plain process sandbox without torch, say) is never reused in another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.kernel.errors import ConfigError, SandboxError
from agent.kernel.task import Task
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig
from sandboxes.shared import get_sandbox, unusable_docker

#: the identity of the sandbox of a task that runs no candidate code (the store's `NO_SANDBOX`)
NO_SANDBOX = "none"


@dataclass(frozen=True)
class ResolvedSandbox:
    config: SandboxConfig | None  # None: the task runs no candidate code
    warning: str | None = None


def resolve_sandbox(
    task: str, chosen: SandboxConfig | None, problems: Sequence[Task], *, resuming: bool = False
) -> ResolvedSandbox:
    """The sandbox the run's candidates will use; raises ConfigError (one line) when Docker is chosen,
    explicitly or by default, and cannot run here."""
    if not any(p.uses_sandbox for p in problems):
        return ResolvedSandbox(chosen)
    config = chosen if chosen is not None else DockerSandboxConfig()
    if isinstance(config, ProcessSandboxConfig):
        return ResolvedSandbox(config, _process_warning(task, config))
    why = unusable_docker(config)
    if why is not None:
        fix = (
            "this run was recorded with the Docker sandbox: make Docker usable (`assay sandbox check`) and "
            "resume again"
            if resuming
            else "make Docker usable (`assay sandbox check`), or pass `--sandbox process` to run the "
            "candidates without isolation, knowingly"
        )
        raise ConfigError(
            f"{task} runs candidate code in the Docker sandbox, which is not usable ({why}); {fix}"
        )
    return ResolvedSandbox(config)


async def sandbox_identity(problems: Sequence[Task]) -> str:
    """The identity of the shared sandbox the problems' verifiers run candidates in ("none" when they run
    none). Builds that sandbox now, as the first verification would; call it after `configure`."""
    if not any(p.uses_sandbox for p in problems):
        return NO_SANDBOX
    identity = (await get_sandbox()).identity
    if not isinstance(identity, str) or not identity or identity == NO_SANDBOX:
        raise SandboxError(
            f"the sandbox reports no usable identity ({identity!r}); its verdicts cannot be cached"
        )
    return identity


def _process_warning(task: str, config: ProcessSandboxConfig) -> str:
    """What the process sandbox isolates here, said once: bubblewrap's namespaces where they work, else
    nothing but rlimits (and a one-line reason)."""
    from sandboxes.availability import process_isolation

    isolation = process_isolation() if config.isolation == "auto" else None
    if config.isolation == "bwrap" or (isolation is not None and isolation.level == "bwrap"):
        return (
            f"{task} runs its candidates in the process sandbox under bubblewrap (no network, read-only "
            "system, no host files; memory is limited per process, not per job as in Docker)"
        )
    why = "isolation: plain was chosen" if isolation is None else isolation.reason
    return (
        f"{task} runs its candidates in the process sandbox, which does NOT isolate untrusted code here "
        f"({why}; they run with this machine's files and network, only rlimits and a scrubbed environment)"
    )
