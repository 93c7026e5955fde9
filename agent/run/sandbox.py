"""Where a run's candidate code runs: resolved once, before the first model call, and recorded with the run.

Docker is the default for every task that runs candidate code. When it is not usable the run stops before
anything is written, in one line that says why and how to choose the unisolated process sandbox knowingly;
there is no silent fallback. Choosing `process` is allowed and said once, as a warning. Tasks that run no
candidate code (math) need no sandbox and are never probed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.kernel.errors import ConfigError
from agent.kernel.task import Task
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig
from sandboxes.shared import unusable_docker


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
        return ResolvedSandbox(
            config,
            f"{task} runs its candidates in the process sandbox, which does NOT isolate untrusted code "
            "(they run as this user, with its files and network; only rlimits and a scrubbed environment)",
        )
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
