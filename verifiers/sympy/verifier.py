"""`SympyVerifier`: judge a math answer with SymPy, in a child process that is killed on a timeout.

One instance is configured per problem with a check kind and the problem's data. The `search` mode is the
verifier that guides the search (it explains a failure, e.g. where an antiderivative's derivative departs
from the integrand); the `exact` mode is the held-out verifier (decimals count only as the exact rationals
they spell, and it says little). Parsing happens in the child too, so a hostile answer can never hang or
exhaust the caller.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from agent.kernel.errors import ConfigError
from agent.kernel.identity import fingerprint
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from sandboxes.child import DEFAULT_MEMORY_BYTES, preload, run_in_child
from verifiers.sympy import checks, notation, numeric, parse
from verifiers.sympy.checks import KINDS, MODES, REQUIRED_DATA, CheckOptions, check
from verifiers.sympy.parse import MAX_ANSWER_CHARS

DEFAULT_TIMEOUT_S = 10.0
#: the code that runs in the child: its source is part of every verdict's identity
CHILD_MODULES = (checks, notation, numeric, parse)

preload("sympy", "latex2sympy2_extended", "verifiers.sympy.warmup")

CheckKind = Literal["equivalent", "antiderivative", "roots", "ode"]
Mode = Literal["search", "exact"]


class SympyVerifier:
    """Verifies one problem's answers. Equal configurations share `name` and `version`, so a cached verdict
    is only ever reused for the same problem and mode."""

    def __init__(
        self,
        kind: CheckKind,
        data: Mapping[str, Any],
        *,
        mode: Mode = "search",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        rel_tol: float = 1e-6,
        memory_bytes: int | None = DEFAULT_MEMORY_BYTES,
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown sympy check kind {kind!r}; choose one of {', '.join(KINDS)}")
        if mode not in MODES:
            raise ConfigError(f"unknown sympy verifier mode {mode!r}; choose one of {', '.join(MODES)}")
        missing = [key for key in REQUIRED_DATA[kind] if key not in data]
        if missing:
            raise ConfigError(f"the {kind} check needs problem data {', '.join(missing)}")
        if timeout_s <= 0 or not 0 < rel_tol < 1:
            raise ConfigError("timeout_s must be positive and rel_tol in (0, 1)")
        self.kind = kind
        self.mode = mode
        self.data = dict(data)
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.options = CheckOptions(rel_tol=rel_tol, proof_budget_s=min(3.0, timeout_s * 0.4))
        self.name = f"sympy-{kind}-{mode}"
        self.version = fingerprint(
            kind,
            mode,
            {k: str(v) for k, v in self.data.items()},
            self.options,
            timeout_s,
            memory_bytes,
            *CHILD_MODULES,
        )

    def __repr__(self) -> str:
        return f"SympyVerifier({self.kind!r}, mode={self.mode!r}, version={self.version!r})"

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        start = time.monotonic()
        answer = hypothesis.content
        if len(answer) > MAX_ANSWER_CHARS:
            return Verdict(
                status=VerdictStatus.INVALID,
                feedback=f"your answer is too long ({len(answer)} characters, at most {MAX_ANSWER_CHARS})",
                duration_s=time.monotonic() - start,
            )
        result = await run_in_child(
            check,
            self.kind,
            self.mode,
            self.data,
            answer,
            self.options,
            timeout_s=self.timeout_s,
            memory_bytes=self.memory_bytes,
        )
        duration = time.monotonic() - start
        if result.status == "timeout":
            return Verdict(
                status=VerdictStatus.TIMEOUT,
                feedback=(
                    f"checking your answer timed out after {self.timeout_s:g} s: the expression is too "
                    "complex to evaluate; give a simpler closed form"
                ),
                duration_s=duration,
            )
        if result.status in ("error", "crashed"):
            if result.error_type == "MemoryError":
                why = "ran out of memory: the expression is too large"
            else:
                why = f"failed ({result.error_type}: {result.error_message})"
            return Verdict(
                status=VerdictStatus.ERROR, feedback=f"checking your answer {why}", duration_s=duration
            )
        value = result.value
        status = VerdictStatus(value["status"])
        score = None if status is VerdictStatus.INVALID else value["score"]
        return Verdict(
            status=status,
            score=score,
            feedback=value["feedback"],
            metrics=value["metrics"],
            duration_s=duration,
        )
