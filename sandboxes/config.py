"""Sandbox configurations: a tagged union whose members build their own sandbox (SWE-ReX style).

Configs are plain data (they round-trip through YAML/JSON and the CLI); `build()` is the only place that
turns one into a live object, so callers never branch on the sandbox kind.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.kernel.sandbox import Sandbox
from sandboxes.image.recipe import DEFAULT_IMAGE

__all__ = ["DEFAULT_IMAGE", "DockerSandboxConfig", "ProcessSandboxConfig", "SandboxConfig"]


class DockerSandboxConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["docker"] = "docker"
    image: str = DEFAULT_IMAGE
    pool_size: int = Field(default=2, ge=1)
    # A new container's cgroup size (memory = memory-swap); each job's own `Limits` then resize it when they
    # differ (`docker update`, ~15 ms), so these only matter as the starting point.
    memory_mb: int = Field(default=512, ge=64)
    pids: int = Field(default=128, ge=16)
    cpus: float = Field(default=1.0, gt=0)
    tmp_mb: int = Field(default=64, ge=1)  # /tmp, noexec
    work_mb: int = Field(default=128, ge=1)  # the job directories
    max_jobs_per_container: int = Field(default=200, ge=1)
    retries: int = Field(
        default=1, ge=0
    )  # a job whose container died is retried this often, then SandboxError
    start_timeout_s: float = Field(default=60.0, gt=0)

    def build(self) -> Sandbox:
        from sandboxes.docker import DockerSandbox

        return DockerSandbox(self)


class ProcessSandboxConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["process"] = "process"
    pool_size: int = Field(default=2, ge=1)
    max_jobs_per_worker: int = Field(default=500, ge=1)
    interpreter: str | None = None  # the Python that runs the worker and `python3` in jobs; default: ours
    # auto: bubblewrap namespaces where this machine allows them, else plain (said, never silent);
    # bwrap: require them (SandboxError otherwise); plain: no isolation, for trusted code
    isolation: Literal["auto", "bwrap", "plain"] = "auto"
    tmp_mb: int = Field(default=64, ge=1)  # bwrap: the sandbox's own /tmp
    work_mb: int = Field(default=256, ge=1)  # bwrap: the job directories
    retries: int = Field(default=1, ge=0)  # a job whose worker was lost or damaged is retried this often

    def build(self) -> Sandbox:
        from sandboxes.process import ProcessSandbox

        return ProcessSandbox(
            pool_size=self.pool_size,
            max_jobs_per_worker=self.max_jobs_per_worker,
            interpreter=self.interpreter,
            isolation=self.isolation,
            tmp_mb=self.tmp_mb,
            work_mb=self.work_mb,
            retries=self.retries,
        )


SandboxConfig = Annotated[DockerSandboxConfig | ProcessSandboxConfig, Field(discriminator="type")]
