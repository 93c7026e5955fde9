"""The Sandbox protocol: run untrusted files + command under hard limits, return what happened as data.

A job's own failure (non-zero exit, timeout, OOM) is reported in `ExecResult`; only a failure of the sandbox
itself (daemon gone, container died mid-job) raises `SandboxError`, so the caller can retry the job instead
of scoring it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=512, ge=16)
    pids: int = Field(default=128, ge=4)
    cpus: float = Field(default=1.0, gt=0)
    output_bytes: int = Field(default=1 << 20, ge=1024)  # kept per stream, as head + tail
    file_size_mb: int = Field(default=64, ge=1)
    open_files: int = Field(default=256, ge=16)


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command: list[str]
    files: dict[str, bytes | str] = Field(default_factory=dict)  # relative path -> content, in the workdir
    stdin: bytes | None = None
    env: dict[str, str] = Field(default_factory=dict)
    limits: Limits = Limits()


class ExecResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    exit_code: int | None  # None when killed by a signal
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    timed_out: bool = False
    oom: bool = False
    output_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom


@runtime_checkable
class Sandbox(Protocol):
    @property
    def identity(self) -> str:
        """What, besides the job, decides its outcome: the backend, its isolation, the software jobs run and
        the CPU's vector level ("docker:<image recipe>:<level>", "process:bwrap:<python>:<level>",
        "process:plain:<python>:<level>", level e.g. "x86_64-v3"). Part of the verdict cache key, so a
        result from one sandbox (a plain sandbox's missing torch, an AVX-512 machine's training) is never
        reused in another."""
        ...

    async def run(self, job: Job) -> ExecResult: ...

    async def close(self) -> None: ...
