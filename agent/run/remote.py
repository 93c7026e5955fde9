"""The run's verifiers as a picklable recipe, for executors whose workers live in other processes (Ray).

A worker never receives a verifier object from the orchestrator: it rebuilds the run's problems itself from
the task's registered name and module, the problem selection and the run's sandbox settings, and builds its
own shared sandbox (its own pool) from them. So the grader, its seeds and the sandbox live only on the
worker, and the same registered code on every node judges alike (the executor checks each verifier's
`version` against the orchestrator's, see `agent/search/executors/ray.py`).

It lives in the run layer because opening it configures a sandbox, which the search may not name.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from agent.kernel.plugins import load_suite
from agent.kernel.task import Task
from agent.kernel.verifier import Verifier
from agent.run.config import RunConfig
from agent.run.sandbox import sandbox_identity
from sandboxes import close_sandbox, configure
from sandboxes.config import ProcessSandboxConfig, SandboxConfig


@dataclass(frozen=True)
class RunVerifiers:
    """Task `task` (registered by `task_module`), problems `problems`, candidates run in `sandbox`."""

    task: str
    task_module: str | None
    problems: str | None
    sandbox: SandboxConfig | None

    @classmethod
    def of(cls, config: RunConfig) -> RunVerifiers:
        """The recipe of a prepared (resolved) run config."""
        return cls.of_task(config.task, config.task_module, config.problems, config.sandbox)

    @classmethod
    def of_task(
        cls, task: str, module: str | None, problems: str | None, sandbox: SandboxConfig | None
    ) -> RunVerifiers:
        """A process sandbox left on "our interpreter" is pinned to this process's: Ray starts its workers
        as `python3`, and the sandbox's identity (the verdict cache key) names the interpreter, so an
        unpinned worker would report another identity for the same Python."""
        if isinstance(sandbox, ProcessSandboxConfig) and sandbox.interpreter is None:
            sandbox = sandbox.model_copy(update={"interpreter": sys.executable})
        return cls(task, module, problems, sandbox)

    async def open(self) -> OpenedVerifiers:
        """Build the problems and this process's shared sandbox (where the worker runs: its own pool)."""
        problems = load_suite(self.task, self.task_module).select(self.problems)
        if self.sandbox is not None:
            await close_sandbox()
            configure(self.sandbox)
        return OpenedVerifiers(problems, await sandbox_identity(problems))


class OpenedVerifiers:
    """A worker's copy of the run's verifiers, by problem key and role, and its sandbox's identity."""

    def __init__(self, problems: Sequence[Task], identity: str) -> None:
        self.identity = identity
        self._by_key = {task.key: task for task in problems}

    def verifier(self, problem_key: str, role: str) -> Verifier | None:
        task = self._by_key.get(problem_key)
        if task is None:
            return None
        return {"search": task.verifier, "held_out": task.held_out}.get(role)

    async def aclose(self) -> None:
        await close_sandbox()
