"""The Verifier protocol.

A verifier turns a hypothesis into a `Verdict`. It never raises for a bad candidate (that is a verdict);
it raises `VerifierError`/`SandboxError` only when it could not judge at all. `name` and `version` key the
verdict cache: bump `version` whenever a change could alter a verdict.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agent.types import Hypothesis, Verdict


@runtime_checkable
class Verifier(Protocol):
    name: str
    version: str

    async def verify(self, hypothesis: Hypothesis) -> Verdict: ...
