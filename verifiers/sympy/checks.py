"""The math checks themselves; each runs inside a child process (see sandboxes/child.py).

Every check takes the problem's trusted data and the untrusted answer, and returns a plain dict
(`status`, `score`, `feedback`, `metrics`) so the result crosses the process boundary without pickling
SymPy objects. The search mode explains a failure in terms the model can act on; the exact mode gives the
held-out verdict and says little.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from verifiers.sympy.numeric import (
    Comparison,
    close,
    compare,
    evaluate,
    is_real_value,
    rationalize,
    show,
    show_value,
)
from verifiers.sympy.parse import AnswerParseError, parse_expression, parse_expression_list

KINDS: tuple[str, ...] = ("equivalent", "antiderivative", "roots", "ode")
MODES: tuple[str, ...] = ("search", "exact")
#: keys each kind needs in its problem data
REQUIRED_DATA: dict[str, tuple[str, ...]] = {
    "equivalent": ("expected",),
    "antiderivative": ("integrand",),
    "roots": ("equation", "roots"),
    "ode": ("lhs", "rhs", "conditions"),
}


@dataclass(frozen=True)
class CheckOptions:
    rel_tol: float = 1e-6
    #: seconds a symbolic proof may take inside the child before numeric agreement decides alone
    proof_budget_s: float = 3.0


Result = dict[str, Any]


def _result(status: str, score: float | None, feedback: str, **metrics: float) -> Result:
    return {"status": status, "score": score, "feedback": feedback, "metrics": dict(metrics)}


def check(kind: str, mode: str, data: Mapping[str, Any], answer: str, options: CheckOptions) -> Result:
    """Entry point run in the child: parse the answer and judge it; a parse error is an `invalid` result."""
    try:
        return CHECKS[kind](mode == "exact", data, answer, options)
    except AnswerParseError as exc:
        return _result("invalid", None, f"could not read your answer: {exc}")


def _symbols(data: Mapping[str, Any], real: bool = False) -> dict[str, sp.Symbol]:
    names = data.get("variables") or [data.get("variable", "x")]
    return {name: sp.Symbol(name, real=True) if real else sp.Symbol(name) for name in names}


def _unknown_symbols(expr: sp.Expr, allowed: Sequence[sp.Symbol]) -> str:
    extra = sorted(s.name for s in expr.free_symbols if s not in allowed)
    return ", ".join(extra)


def _where(cmp: Comparison) -> str:
    return ", ".join(f"{k}={v}" for k, v in cmp.at.items()) or "the answer's value"


def _compare(
    a: sp.Expr, b: sp.Expr, symbols: Sequence[sp.Symbol], exact: bool, options: CheckOptions
) -> Comparison:
    return compare(a, b, symbols, exact=exact, rel_tol=options.rel_tol, proof_budget_s=options.proof_budget_s)


def _ok(cmp: Comparison, feedback: str) -> Result:
    return _result("ok", 1.0, feedback, proof=float(cmp.proof), points=float(cmp.points))


def check_equivalent(exact: bool, data: Mapping[str, Any], answer: str, options: CheckOptions) -> Result:
    symbols = _symbols(data)
    allowed = list(symbols.values())
    expected = parse_expression(data["expected"], symbols)
    candidate = parse_expression(answer, symbols, allow_order=bool(data.get("allow_order", False)))
    what = data.get("what", "answer")
    extra = _unknown_symbols(candidate, allowed)
    if extra:
        names = ", ".join(symbols) or "no variables (it is a number)"
        return _result("fail", 0.0, f"your {what} contains {extra}, but it may only depend on {names}")
    cmp = compare(
        candidate,
        expected,
        allowed,
        exact=exact,
        rel_tol=options.rel_tol,
        proof_budget_s=options.proof_budget_s,
    )
    if cmp.equal:
        return _ok(cmp, f"correct: your {what} is right")
    if exact:
        return _result("fail", 0.0, f"incorrect {what}")
    if cmp.at:
        feedback = (
            f"your {what} {show(candidate)} is wrong: at {_where(cmp)} it equals {cmp.a_value}, "
            f"but the correct {what} equals {cmp.b_value}"
        )
    elif cmp.a_value:
        feedback = f"your {what} {show(candidate)} is not the right value"
    else:
        feedback = f"your {what} {show(candidate)} could not be confirmed: it is undefined at the test points"
    if data.get("hint"):
        feedback += f". {data['hint']}"
    return _result("fail", 0.0, feedback)


def check_antiderivative(exact: bool, data: Mapping[str, Any], answer: str, options: CheckOptions) -> Result:
    """d/dx of the answer must equal the integrand, so any constant of integration is accepted."""
    symbols = _symbols(data, real=True)  # real, so d/dx log(Abs(x)) = 1/x
    (x,) = symbols.values()
    integrand = parse_expression(data["integrand"], symbols)
    candidate = parse_expression(answer, symbols)
    derivative = sp.diff(candidate, x)
    extra = _unknown_symbols(derivative, [x])
    if extra:
        return _result(
            "fail",
            0.0,
            f"d/d{x} of your answer is {show(derivative)}, which still depends on {extra}: apart from an "
            f"additive constant, an antiderivative may only depend on {x}",
        )
    cmp = compare(
        derivative,
        integrand,
        [x],
        exact=exact,
        rel_tol=options.rel_tol,
        proof_budget_s=options.proof_budget_s,
    )
    if cmp.equal:
        return _ok(cmp, f"correct: d/d{x} of your answer equals the integrand")
    if exact:
        return _result("fail", 0.0, "incorrect antiderivative")
    feedback = f"d/d{x} of your answer is {show(derivative)} but the integrand is {show(integrand)}"
    if cmp.at:
        feedback += f"; they differ at {_where(cmp)}: {cmp.a_value} vs {cmp.b_value}"
    return _result("fail", 0.0, feedback)


def check_roots(exact: bool, data: Mapping[str, Any], answer: str, options: CheckOptions) -> Result:
    """The answer's set must equal the real root set; score = (correct - wrong extras) / number of roots."""
    symbols = _symbols(data)
    (x,) = symbols.values()
    equation = parse_expression(data["equation"], symbols)
    expected = [parse_expression(r, symbols) for r in data["roots"]]
    candidates = parse_expression_list(answer, symbols)
    for c in candidates:
        if c.free_symbols:
            raise AnswerParseError(
                f"each root must be a number, but {show(c)} contains {_unknown_symbols(c, [])}; "
                "give the roots as a comma-separated list of numbers, e.g. \\boxed{-1, 2, 1 + sqrt(3)}"
            )
    precision = 50 if exact else 30
    tol = 1e-30 if exact else options.rel_tol
    expected_values = [evaluate(r, {}, precision) for r in expected]
    matched = [False] * len(expected)
    seen: list[sp.Expr] = []
    correct = wrong = duplicates = 0
    notes: list[str] = []
    for c in candidates:
        value = evaluate(rationalize(c) if exact else c, {}, precision)
        if value is None:
            wrong += 1
            notes.append(f"{show(c)} is not a finite number")
            continue
        if any(close(value, s, tol) for s in seen):
            duplicates += 1
            continue
        seen.append(value)
        hit = next(
            (
                i
                for i, ev in enumerate(expected_values)
                if not matched[i] and ev is not None and close(value, ev, tol)
            ),
            None,
        )
        if hit is not None:
            matched[hit] = True
            correct += 1
            continue
        wrong += 1
        residual = evaluate(equation, {x: value}, precision)
        if not is_real_value(value):
            notes.append(f"{show(c)} is not real; only real roots are asked for")
        elif residual is not None:
            notes.append(
                f"{x} = {show(c)} is not a root: the left-hand side equals {show_value(residual)} there"
            )
        else:
            notes.append(f"{x} = {show(c)} is not a root")
    total = len(expected)
    score = max(0.0, (correct - wrong) / total) if total else float(not candidates)
    metrics = {"correct": float(correct), "wrong": float(wrong), "expected": float(total)}
    if correct == total and wrong == 0:
        return {
            "status": "ok",
            "score": 1.0,
            "feedback": "correct: that is exactly the set of real roots",
            "metrics": metrics,
        }
    if exact:
        return {
            "status": "fail",
            "score": score,
            "feedback": f"{correct} of {total} roots, {wrong} wrong",
            "metrics": metrics,
        }
    parts = [f"you found {correct} of the {total} real roots"]
    if wrong:
        parts.append(f"{wrong} of your values are wrong ({'; '.join(notes[:5])})")
    if correct < total:
        parts.append(f"{total - correct} real root(s) are missing")
    return {"status": "fail", "score": score, "feedback": "; ".join(parts), "metrics": metrics}


def check_ode(exact: bool, data: Mapping[str, Any], answer: str, options: CheckOptions) -> Result:
    """The answer y(x) must satisfy the ODE (by substitution) and every initial condition.

    The ODE is stored as `lhs = rhs` in the symbols `y`, `yp` (y') and `ypp` (y'').
    """
    symbols = _symbols(data)
    (x,) = symbols.values()
    y, yp, ypp = sp.symbols("y yp ypp")
    lhs = parse_expression(data["lhs"], {**symbols, "y": y, "yp": yp, "ypp": ypp})
    rhs = parse_expression(data["rhs"], symbols)
    candidate = parse_expression(answer, symbols)
    extra = _unknown_symbols(candidate, [x])
    if extra:
        return _result(
            "fail",
            0.0,
            f"your solution contains {extra}: use the initial conditions to determine every constant, "
            f"so that y depends only on {x}",
        )
    derivatives = [candidate, sp.diff(candidate, x), sp.diff(candidate, x, 2)]
    substituted = lhs.xreplace({y: derivatives[0], yp: derivatives[1], ypp: derivatives[2]})
    cmp = _compare(substituted, rhs, [x], exact, options)
    if not cmp.equal:
        if exact:
            return _result("fail", 0.0, "does not satisfy the ODE")
        feedback = (
            f"your y does not satisfy the ODE: substituting it, the left-hand side "
            f"{data.get('display_lhs', '')} becomes {show(substituted)}, "
            f"but the right-hand side is {show(rhs)}"
        )
        if cmp.at:
            feedback += f"; at {_where(cmp)}: {cmp.a_value} vs {cmp.b_value}"
        return _result("fail", 0.0, feedback)
    failures = []
    for order, x0, value in data["conditions"]:
        point = parse_expression(str(x0), symbols)
        target = parse_expression(str(value), symbols)
        got = derivatives[int(order)].xreplace({x: point})
        cond = compare(got, target, [], exact=exact, rel_tol=options.rel_tol, proof_budget_s=1.0)
        if not cond.equal:
            name = "y" + "'" * int(order)
            failures.append(f"{name}({show(point)}) should be {show(target)} but yours is {show(got)}")
    if failures:
        if exact:
            return _result("fail", 0.0, "satisfies the ODE but not the initial conditions")
        return _result("fail", 0.0, "your y satisfies the ODE, but " + "; ".join(failures))
    return _ok(cmp, "correct: your y satisfies the ODE and the initial conditions")


CHECKS: dict[str, Callable[[bool, Mapping[str, Any], str, CheckOptions], Result]] = {
    "equivalent": check_equivalent,
    "antiderivative": check_antiderivative,
    "roots": check_roots,
    "ode": check_ode,
}
