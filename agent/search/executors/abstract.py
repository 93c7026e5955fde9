"""Where verifications run: the Executor protocol the search loop verifies through.

The loop owns the hypotheses, the verdicts and the store; an executor only runs `verifier.verify(h)`
somewhere and hands the verdict back. Its contract is the verifier's own: a candidate's failure is a
`Verdict`, an infrastructure failure raises `SandboxError`/`VerifierError` (the loop retries it, never caches
or scores it, and finally records `error`). Whatever comes back is validated again by the loop
(`revalidated_verdict`), so an executor that moved the verdict across a process or a machine adds no trust.

`capacity` is how many verifications can run at once; a pipelined loop bounds its in-flight work by it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agent.kernel.types import Hypothesis, Verdict
from agent.kernel.verifier import Verifier


@runtime_checkable
class Executor(Protocol):
    #: verifications that can run at once
    capacity: int

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        """`verifier`'s verdict on `hypothesis`; `role` ("search", "held_out") says which of the task's
        verifiers it is, for an executor that rebuilds the verifier elsewhere. Raises SandboxError /
        VerifierError for infrastructure failures, exactly like `verifier.verify`."""
        ...

    async def aclose(self) -> None:
        """Release what the executor holds (workers, connections); idempotent."""
        ...


@runtime_checkable
class WorkerVerifiers(Protocol):
    """A remote worker's own copy of the run's verifiers, built where it runs (its own sandbox pool)."""

    #: the identity of the sandbox its verifiers run candidates in (part of the verdict cache key)
    identity: str

    def verifier(self, problem_key: str, role: str) -> Verifier | None:
        """The task `problem_key`'s verifier for `role` ("search", "held_out"); None if it has none."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class VerifierSource(Protocol):
    """A picklable recipe for the run's verifiers (task name, module, problems, sandbox settings): sent to
    every remote worker, which opens it once. The run layer implements it (it may configure a sandbox; the
    search may not), so this package names no sandbox and no task."""

    async def open(self) -> WorkerVerifiers: ...
