"""Imported by the forkserver only: runs each math check once so that every forked child starts warm.

SymPy imports much of itself lazily (printers, evalf tables, simplification) and fills caches on first use;
without this each fresh child pays ~100 ms for that before its real work. A fork inherits the warmed state.
"""

from __future__ import annotations

from verifiers.sympy.checks import CheckOptions, check

_SAMPLES: tuple[tuple[str, dict[str, object], str], ...] = (
    ("equivalent", {"expected": "2*x*cos(x**2)"}, "2*x*cos(x^2) + 0.5 - 1/2"),
    ("equivalent", {"expected": "oo", "variables": []}, "oo"),
    ("antiderivative", {"integrand": "x*exp(x)"}, r"(x-1)e^{x} + \frac{1}{2}"),
    ("roots", {"equation": "x**2 - 2", "roots": ["sqrt(2)", "-sqrt(2)"]}, "1.414214, -sqrt(2), 3"),
    ("ode", {"lhs": "ypp + y", "rhs": "0", "conditions": [[0, 0, 1], [1, 0, 0]]}, "y = cos(x)"),
)


def warm() -> None:
    options = CheckOptions(proof_budget_s=2.0)
    for kind, data, answer in _SAMPLES:
        for mode in ("search", "exact"):
            check(kind, mode, data, answer, options)


warm()
