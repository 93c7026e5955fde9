"""Where verifications run: in this process (`local`, the default) or on a Ray cluster (`ray`).

Importing this package never imports ray; only building a `RayExecutorConfig` does.
"""

from agent.search.executors.abstract import Executor, VerifierSource, WorkerVerifiers
from agent.search.executors.config import (
    DEFAULT_EXECUTOR,
    ExecutorConfig,
    ExecutorContext,
    LocalExecutorConfig,
    RayExecutorConfig,
    build_executor,
)
from agent.search.executors.local import LocalExecutor

__all__ = [
    "DEFAULT_EXECUTOR",
    "Executor",
    "ExecutorConfig",
    "ExecutorContext",
    "LocalExecutor",
    "LocalExecutorConfig",
    "RayExecutorConfig",
    "VerifierSource",
    "WorkerVerifiers",
    "build_executor",
]
