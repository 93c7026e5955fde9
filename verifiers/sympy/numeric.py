"""Comparing two SymPy expressions: numerically at fixed points, and symbolically under a time budget.

Symbolic simplification is incomplete (`simplify(a - b) == 0` can miss true identities) and can be very slow,
while numeric evaluation is fast and decides most cases. So the search mode compares values at fixed real
points, negative ones included, because that is where `sqrt(x**2)` and `x`, or `log(a*b)` and
`log(a) + log(b)`, part ways; the exact mode turns decimals into the rationals they spell, compares to 50
digits, and additionally tries a symbolic proof within a budget. The points are fixed, so a verdict is
reproducible and can be cached.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import mpmath
import sympy as sp

#: sample values of the first variable; later variables use the same list shifted
POINTS: tuple[str, ...] = ("0.7", "-1.3", "1.9", "-0.45", "2.6", "0.15", "-2.2", "3.3")
SEARCH_PRECISION = 30
EXACT_PRECISION = 50
EXACT_REL_TOL = 1e-30
#: fewest points at which both sides must be defined before numeric agreement counts
MIN_POINTS = 3
MP_BITS = 256

T = TypeVar("T")


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a candidate `a` with a reference `b`."""

    equal: bool
    proof: bool = False  # equal by a symbolic argument, not only numerically
    points: int = 0  # points at which both sides were evaluated and agreed
    at: dict[str, str] = field(default_factory=dict)  # the first point where they differ
    a_value: str = ""
    b_value: str = ""


class ProofBudgetExceeded(Exception):
    """A symbolic proof attempt ran out of its time budget (not a failure of the candidate)."""


def with_budget(seconds: float, fn: Callable[[], T]) -> T:
    """Run `fn` with an interval timer; only for the main thread of a child process, where signals work."""
    if seconds <= 0:
        raise ProofBudgetExceeded

    def on_alarm(signum: int, frame: Any) -> None:
        raise ProofBudgetExceeded

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def show(expr: Any, limit: int = 240) -> str:
    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show_value(value: sp.Expr) -> str:
    number = complex(_mp(value))
    if abs(number.imag) <= 1e-12 * max(1.0, abs(number.real)):
        return f"{number.real:.6g}"
    return f"{number.real:.6g}{number.imag:+.6g}*I"


def is_real_value(value: sp.Expr) -> bool:
    number = complex(_mp(value))
    return abs(number.imag) <= 1e-9 * max(1.0, abs(number.real))


def is_infinite(expr: sp.Expr) -> bool:
    return bool(expr.has(sp.oo, -sp.oo, sp.zoo, sp.nan))


def rationalize(expr: sp.Expr) -> sp.Expr:
    """Decimals become the exact rationals they spell: 0.5 -> 1/2, but 0.333333 stays 333333/1000000."""
    if not expr.has(sp.Float):
        return expr
    return expr.xreplace({f: sp.Rational(str(f)) for f in expr.atoms(sp.Float)})


def evaluate(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr], precision: int) -> sp.Expr | None:
    """The value at `point`, or None where it is undefined, infinite or not a number."""
    try:
        # evalf(subs=...) substitutes while evaluating, so it skips rebuilding (and re-deducing) the tree
        value = expr.evalf(precision, subs=dict(point)) if point else sp.N(expr, precision)
        if not value.is_number:
            value = sp.N(expr.xreplace(dict(point)), precision)
    except MemoryError:
        raise
    except Exception:
        return None
    if not value.is_number or value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    try:
        re_part, im_part = value.as_real_imag()
        if not (re_part.is_finite and im_part.is_finite):
            return None
    except MemoryError:
        raise
    except Exception:
        return None
    return value


def _mp(value: sp.Expr) -> Any:
    """An mpmath number: SymPy comparisons refuse values whose precision cancelled away (`0.e-164`)."""
    return value._to_mpmath(MP_BITS)


def close(a: sp.Expr, b: sp.Expr, rel_tol: float) -> bool:
    with mpmath.workprec(MP_BITS):
        ma, mb = _mp(a), _mp(b)
        return bool(abs(ma - mb) <= rel_tol * max(1, abs(ma), abs(mb)))


def sample_points(
    symbols: Sequence[sp.Symbol], precision: int
) -> list[tuple[dict[sp.Symbol, sp.Expr], dict[str, str]]]:
    if not symbols:
        return [({}, {})]
    points = []
    for i in range(len(POINTS)):
        values = {s: POINTS[(i + 3 * j) % len(POINTS)] for j, s in enumerate(symbols)}
        points.append(
            ({s: sp.Float(v, precision) for s, v in values.items()}, {s.name: v for s, v in values.items()})
        )
    return points


def prove_zero(diff: sp.Expr, budget_s: float) -> bool:
    """True only when SymPy shows `diff` is identically zero within the budget."""

    def attempt() -> bool:
        if sp.expand(diff) == 0:
            return True
        if sp.simplify(diff) == 0:
            return True
        return diff.equals(0) is True

    try:
        return with_budget(budget_s, attempt)
    except ProofBudgetExceeded:
        return False
    except MemoryError:
        raise
    except Exception:
        return False


def compare(
    a: sp.Expr,
    b: sp.Expr,
    symbols: Sequence[sp.Symbol],
    *,
    exact: bool,
    rel_tol: float,
    proof_budget_s: float,
) -> Comparison:
    """Compare candidate `a` with reference `b` as functions of `symbols`."""
    if exact:
        a = rationalize(a)
    if a == b:
        return Comparison(True, proof=True)
    if is_infinite(a) or is_infinite(b):
        try:
            same = sp.simplify(a) == sp.simplify(b)
        except MemoryError:
            raise
        except Exception:
            same = False
        return Comparison(same, proof=same, a_value=show(a), b_value=show(b))
    precision = EXACT_PRECISION if exact else SEARCH_PRECISION
    tol = EXACT_REL_TOL if exact else rel_tol
    agreed = 0
    for point, labels in sample_points(symbols, precision):
        va = evaluate(a, point, precision)
        vb = evaluate(b, point, precision)
        if va is None or vb is None:
            continue
        if not close(va, vb, tol):
            return Comparison(False, at=labels, a_value=show_value(va), b_value=show_value(vb), points=agreed)
        agreed += 1
    needed = MIN_POINTS if symbols else 1
    if agreed < needed or exact:
        proven = prove_zero(a - b, proof_budget_s)
        if proven or (exact and agreed >= needed):
            return Comparison(True, proof=proven, points=agreed)
        return Comparison(False, points=agreed)
    return Comparison(True, points=agreed)
