"""The Verifier protocol, and the check that a task's verifiers really implement it.

A verifier turns a hypothesis into a `Verdict`. It never raises for a bad candidate (that is a verdict); it
raises `VerifierError`/`SandboxError` only when it could not judge at all.

The verdict cache keys on `(name, version)`, so `version` is the verifier's *identity*: it must change
whenever anything that can change a verdict changes (seeds, limits, trainer settings, the source of the
programs shipped into the sandbox). Built-in verifiers derive it with `fingerprint()` from all of those,
never by hand; a hand-kept literal goes stale the first time someone edits a seed and forgets to bump it.
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

from agent.kernel.errors import ConfigError
from agent.kernel.types import Hypothesis, Verdict


@runtime_checkable
class Verifier(Protocol):
    name: str
    #: the identity of every input that can change a verdict (see `agent.kernel.identity.fingerprint`)
    version: str

    async def verify(self, hypothesis: Hypothesis) -> Verdict: ...


def check_verifier(verifier: object, where: str) -> None:
    """Refuse, in one line, an object that is not a usable verifier (instead of failing every candidate)."""
    kind = type(verifier).__name__
    missing = [
        attr
        for attr in ("name", "version")
        if not isinstance(getattr(verifier, attr, None), str) or not getattr(verifier, attr)
    ]
    if missing:
        what = " and ".join(f"`{m}`" for m in missing)
        raise ConfigError(
            f"{where}: {kind} is not a verifier: it needs a non-empty string {what} "
            "(a verifier has name: str, version: str and async def verify(hypothesis) -> Verdict)"
        )
    verify = getattr(verifier, "verify", None)
    if verify is None or not inspect.iscoroutinefunction(verify):
        raise ConfigError(
            f"{where}: {kind}.verify must be `async def verify(self, hypothesis) -> Verdict`"
            + (" (it is not defined)" if verify is None else " (it is not async)")
        )
