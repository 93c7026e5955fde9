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


#: the metric in which a verdict says on how many seeds its score rests (set by every `verify_at` verdict)
SEEDS_METRIC = "seeds"


@runtime_checkable
class MultiFidelityVerifier(Verifier, Protocol):
    """An optional capability: a noisy verifier (one that trains on seeds) that can also judge on more seeds.

    Declared by an explicit `fidelities` field, never guessed: successive halving
    (`agent.search.halving`) re-verifies the top candidates on the next fidelity, so that a candidate lucky
    on a few seeds is demoted before it becomes a parent or the reported best. `verify` judges on
    `fidelities[0]` seeds; `verify_at(h, n)` on `n` (one of `fidelities`), and its verdict is cached apart.
    """

    #: the numbers of seeds it can judge on, ascending; `verify` judges on the first
    fidelities: tuple[int, ...]

    async def verify_at(self, hypothesis: Hypothesis, seeds: int) -> Verdict: ...


def fidelities_of(verifier: object) -> tuple[int, ...]:
    """The seed counts a verifier offers (`()` when it offers no choice); refused when they are malformed,
    since a misdeclared ladder would silently re-verify on the same seeds or on none."""
    if not isinstance(verifier, MultiFidelityVerifier):
        return ()
    levels = verifier.fidelities  # declared, but a plugin's declaration is checked, not trusted
    if (
        not isinstance(levels, tuple)
        or not levels
        or not all(type(n) is int and n > 0 for n in levels)
        or list(levels) != sorted(set(levels))
    ):
        raise ConfigError(
            f"{type(verifier).__name__}.fidelities must be a non-empty ascending tuple of positive seed "
            f"counts, not {levels!r}"
        )
    return levels if len(levels) > 1 else ()


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
