"""Taylor polynomials about 0, computed from known coefficient formulas and truncated products.

`sympy.series` takes 50-300 ms per function, too slow to build a suite when a task is selected; the
coefficients of exp, sin, cos, log(1+u), (1+u)^r and atan are closed formulas, and a product's
coefficients are a truncated convolution. The tests confirm every polynomial against `sympy.series`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import sympy as sp

from tasks.math.common import Draft, nonzero, x

DESCRIPTION = "Taylor polynomials about x = 0 to a given degree; 10 easy + 10 hard"

Coefficients = Callable[[int], sp.Expr]  # k -> coefficient of u**k for the function of u


def _exp(k: int) -> sp.Expr:
    return sp.Rational(1, sp.factorial(k))


def _sin(k: int) -> sp.Expr:
    return sp.Integer(0) if k % 2 == 0 else sp.Rational((-1) ** ((k - 1) // 2), sp.factorial(k))


def _cos(k: int) -> sp.Expr:
    return sp.Rational((-1) ** (k // 2), sp.factorial(k)) if k % 2 == 0 else sp.Integer(0)


def _log1p(k: int) -> sp.Expr:
    return sp.Integer(0) if k == 0 else sp.Rational((-1) ** (k + 1), k)


def _atan(k: int) -> sp.Expr:
    return sp.Integer(0) if k % 2 == 0 else sp.Rational((-1) ** ((k - 1) // 2), k)


def _power(r: sp.Rational) -> Coefficients:
    return lambda k: sp.binomial(r, k)


BASICS: dict[str, tuple[Callable[[sp.Expr], sp.Expr], Coefficients]] = {
    "exp": (sp.exp, _exp),
    "sin": (sp.sin, _sin),
    "cos": (sp.cos, _cos),
    "log1p": (lambda u: sp.log(1 + u), _log1p),
    "atan": (sp.atan, _atan),
    "geometric": (lambda u: 1 / (1 - u), lambda k: sp.Integer(1)),
    "sqrt1p": (lambda u: sp.sqrt(1 + u), _power(sp.Rational(1, 2))),
}


def _basic(name: str, a: int, degree: int) -> tuple[sp.Expr, list[sp.Expr]]:
    """f(a*x) and its Taylor coefficients up to `degree`."""
    func, coefficient = BASICS[name]
    return func(a * x), [coefficient(k) * sp.Integer(a) ** k for k in range(degree + 1)]


def _product(p: list[sp.Expr], q: list[sp.Expr], degree: int) -> list[sp.Expr]:
    return [sum((p[i] * q[k - i] for i in range(k + 1)), sp.Integer(0)) for k in range(degree + 1)]


def make(rng: random.Random, level: str) -> Draft:
    if level == "easy":
        name = rng.choice(sorted(BASICS))
        degree = rng.randint(3, 5)
        f, coefficients = _basic(name, nonzero(rng, -3, 3), degree)
    else:
        first, second = rng.sample(sorted(BASICS), 2)
        degree = rng.randint(4, 5)
        f1, c1 = _basic(first, nonzero(rng, -3, 3), degree)
        f2, c2 = _basic(second, rng.choice([1, 2, -1]), degree)
        f, coefficients = f1 * f2, _product(c1, c2, degree)
    polynomial = sum((c * x**k for k, c in enumerate(coefficients)), sp.Integer(0))
    question = (
        f"Find the Taylor polynomial of degree {degree} of f(x) = {sp.sstr(f)} about x = 0   "
        f"(LaTeX: $f(x) = {sp.latex(f)}$), i.e. all terms of the Taylor series up to and including "
        f"x^{degree}, without the O(...) remainder."
    )
    data = {
        "expected": sp.sstr(polynomial),
        "variables": ["x"],
        "what": "Taylor polynomial",
        "allow_order": True,
        "function": sp.sstr(f),
        "degree": degree,
    }
    return Draft(question, "equivalent", data, data["expected"])
