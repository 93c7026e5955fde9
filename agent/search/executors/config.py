"""Executor configs: a tagged union (`type: local | ray`), stored with the run so a resume reuses it.

Each config builds its executor from an `ExecutorContext` (what the run layer knows: the verification
capacity, the problems whose verifiers will be asked for, and for a remote executor the picklable recipe
its workers rebuild those verifiers from). Picked by the `type` tag, never by if/elif.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.kernel.errors import ConfigError
from agent.kernel.task import Task
from agent.search.executors.abstract import Executor, VerifierSource
from agent.search.executors.local import LocalExecutor


@dataclass(frozen=True)
class ExecutorContext:
    """What building an executor needs: `capacity` (the run's `verify_concurrency`), the problems, and
    for a remote executor the `source` its workers build the verifiers from and the sandbox identity the
    run's verdict cache is keyed on (a worker reporting another one is refused, see `ray.py`)."""

    capacity: int
    problems: Sequence[Task] = ()
    source: VerifierSource | None = None
    sandbox_identity: str | None = None


class LocalExecutorConfig(BaseModel):
    """Verify in this process, at most `capacity` at once (None: the run's `verify_concurrency`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["local"] = "local"
    capacity: int | None = Field(default=None, ge=1)

    def build(self, context: ExecutorContext) -> Executor:
        return LocalExecutor(self.capacity or context.capacity)


class RayExecutorConfig(BaseModel):
    """Verify on a Ray cluster: `workers` actors (None: one per alive node), each with its own sandbox pool
    running `slots` verifications at once (None: the run's `verify_concurrency`). A job whose worker dies is
    retried on another, `attempts` times in all, then raised as a SandboxError (the loop records `error`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["ray"] = "ray"
    #: the cluster's address (`HOST:PORT` of the head's GCS, or `ray://HOST:PORT`); None: RAY_ADDRESS or
    #: a cluster already running on this machine ("auto")
    address: str | None = None
    workers: int | None = Field(default=None, ge=1, le=4096)
    slots: int | None = Field(default=None, ge=1, le=1024)
    attempts: int = Field(default=3, ge=1, le=20)
    #: CPUs each worker actor reserves on its node (0: place them by count alone)
    cpus_per_worker: float = Field(default=1.0, ge=0)
    #: seconds to wait for the cluster (connecting, a worker starting); past it: SandboxError
    start_timeout_s: float = Field(default=120.0, gt=0)

    def build(self, context: ExecutorContext) -> Executor:
        if context.source is None:
            raise ConfigError("the Ray executor needs a verifier source: its workers build the verifiers")
        from agent.search.executors.ray import RayExecutor  # ray itself is imported only here

        return RayExecutor(self, context)


ExecutorConfig = Annotated[LocalExecutorConfig | RayExecutorConfig, Field(discriminator="type")]
#: the executor a run uses when none is chosen
DEFAULT_EXECUTOR = LocalExecutorConfig()


def build_executor(config: LocalExecutorConfig | RayExecutorConfig, context: ExecutorContext) -> Executor:
    return config.build(context)


__all__ = [
    "DEFAULT_EXECUTOR",
    "ExecutorConfig",
    "ExecutorContext",
    "LocalExecutorConfig",
    "RayExecutorConfig",
    "build_executor",
]
