"""Sandboxes that run untrusted candidate code under hard limits."""

from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig
from sandboxes.shared import close_sandbox, configure, get_sandbox

__all__ = [
    "DockerSandboxConfig",
    "ExecResult",
    "Job",
    "Limits",
    "ProcessSandboxConfig",
    "Sandbox",
    "SandboxConfig",
    "close_sandbox",
    "configure",
    "get_sandbox",
]
