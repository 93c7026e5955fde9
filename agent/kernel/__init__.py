"""The kernel of assay: value types, errors, the registry and the protocols every other part implements.

It imports nothing else of assay (an import contract enforces it), so the orchestrator, the verifiers, the
sandboxes and the tasks can all depend on it without depending on each other.
"""

from agent.kernel.errors import (
    AssayError,
    ConfigError,
    ModelError,
    ParseError,
    SandboxError,
    StoreError,
    UnknownNameError,
    VerifierError,
)
from agent.kernel.identity import fingerprint
from agent.kernel.model import Model
from agent.kernel.plugins import list_tasks, load_suite, task
from agent.kernel.registry import Registry
from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox
from agent.kernel.task import Objective, Suite, Task
from agent.kernel.types import (
    Budget,
    Completion,
    Hypothesis,
    Message,
    StopReason,
    Usage,
    Verdict,
    VerdictStatus,
)
from agent.kernel.verifier import MultiFidelityVerifier, Verifier

__all__ = [
    "AssayError",
    "Budget",
    "Completion",
    "ConfigError",
    "ExecResult",
    "Hypothesis",
    "Job",
    "Limits",
    "Message",
    "Model",
    "ModelError",
    "MultiFidelityVerifier",
    "Objective",
    "ParseError",
    "Registry",
    "Sandbox",
    "SandboxError",
    "StopReason",
    "StoreError",
    "Suite",
    "Task",
    "UnknownNameError",
    "Usage",
    "Verdict",
    "VerdictStatus",
    "Verifier",
    "VerifierError",
    "fingerprint",
    "list_tasks",
    "load_suite",
    "task",
]
