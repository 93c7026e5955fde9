"""Limits whose values follow from a closed formula per template (the tests confirm each with sympy.limit)."""

from __future__ import annotations

import random

import sympy as sp

from tasks.math.common import Draft, nonzero, x

DESCRIPTION = "Limits of indeterminate forms (answer a number, oo or -oo); 10 easy + 10 hard"

LIMIT_FORMAT = (
    "End your reply with \\boxed{...} containing only the exact value, in plain SymPy syntax or LaTeX, "
    "e.g. \\boxed{3/2}, \\boxed{exp(2)}, \\boxed{sqrt(3)/2} or \\boxed{oo} for +infinity."
)


def _easy(rng: random.Random) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    a, b = nonzero(rng, -5, 5), rng.randint(2, 6)
    p, q, r, s, t = (
        nonzero(rng, -6, 6),
        rng.randint(-5, 5),
        rng.randint(-5, 5),
        rng.randint(1, 5),
        rng.randint(1, 5),
    )
    templates = [
        lambda: ((x**2 - a**2) / (x - a), sp.Integer(a), sp.Integer(2 * a)),
        lambda: (sp.sin(a * x) / (b * x), sp.Integer(0), sp.Rational(a, b)),
        lambda: ((p * x**2 + q * x + r) / (s * x**2 + t), sp.oo, sp.Rational(p, s)),
        lambda: ((sp.exp(a * x) - 1) / (b * x), sp.Integer(0), sp.Rational(a, b)),
        lambda: ((x**3 - a**3) / (x - a), sp.Integer(a), sp.Integer(3 * a**2)),
    ]
    return rng.choice(templates)()


def _hard(rng: random.Random) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    a, b = rng.randint(2, 5), nonzero(rng, -3, 3)
    templates = [
        lambda: ((1 - sp.cos(a * x)) / x**2, sp.Integer(0), sp.Rational(a**2, 2)),
        lambda: ((1 + sp.Integer(b) / x) ** (a * x), sp.oo, sp.exp(a * b)),
        lambda: (sp.sqrt(x**2 + a * x) - x, sp.oo, sp.Rational(a, 2)),
        lambda: ((sp.tan(a * x) - sp.sin(a * x)) / x**3, sp.Integer(0), sp.Rational(a**3, 2)),
        lambda: ((sp.exp(a * x) - 1 - a * x) / x**2, sp.Integer(0), sp.Rational(a**2, 2)),
        lambda: ((sp.log(1 + a * x) - a * x) / x**2, sp.Integer(0), sp.Rational(-(a**2), 2)),
        lambda: ((sp.sin(a * x) - a * x) / x**3, sp.Integer(0), sp.Rational(-(a**3), 6)),
        lambda: ((a**x - 1) / x, sp.Integer(0), sp.log(a)),
        lambda: (x**2 * sp.exp(-x) * a, sp.oo, sp.Integer(0)),
        lambda: ((x**3 + b * x) / (a * x**2 + 1), sp.oo, sp.oo),
    ]
    return rng.choice(templates)()


def make(rng: random.Random, level: str) -> Draft:
    f, point, value = _easy(rng) if level == "easy" else _hard(rng)
    question = (
        f"Compute the limit of f(x) = {sp.sstr(f)} as x -> {sp.sstr(point)}   "
        f"(LaTeX: $\\lim_{{x \\to {sp.latex(point)}}} {sp.latex(f)}$)."
    )
    data = {
        "expected": sp.sstr(value),
        "variables": [],
        "what": "limit",
        "function": sp.sstr(f),
        "point": sp.sstr(point),
    }
    return Draft(question, "equivalent", data, data["expected"], LIMIT_FORMAT)
