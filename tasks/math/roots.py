"""Real roots of polynomial equations, built from their factors so the root set is known exactly."""

from __future__ import annotations

import random

import sympy as sp

from tasks.math.common import Draft, nonzero, x

DESCRIPTION = "All real roots of a polynomial equation (partial credit per root); 10 easy + 10 hard"

ROOTS_FORMAT = (
    "End your reply with \\boxed{...} containing all the real roots as a comma-separated list, each an exact "
    "number in plain SymPy syntax or LaTeX, e.g. \\boxed{-2, 1/3, 1 + sqrt(2), 1 - sqrt(2)}. "
    "Do not list complex roots; list each root once."
)


def _distinct(rng: random.Random, count: int, lo: int, hi: int) -> list[int]:
    return rng.sample(range(lo, hi + 1), count)


def _easy(rng: random.Random) -> tuple[sp.Expr, list[sp.Expr]]:
    if rng.random() < 0.6:
        r1, r2 = _distinct(rng, 2, -7, 7)
        return (x - r1) * (x - r2), [sp.Integer(r1), sp.Integer(r2)]
    a = rng.randint(2, 5)
    b = nonzero(rng, -5, 5)
    while sp.gcd(a, b) != 1:
        b = nonzero(rng, -5, 5)
    r = rng.randint(-6, 6)
    return (a * x - b) * (x - r), [sp.Rational(b, a), sp.Integer(r)]


def _hard(rng: random.Random) -> tuple[sp.Expr, list[sp.Expr]]:
    choice = rng.randrange(4)
    if choice == 0:  # rational root times a quadratic with irrational roots p ± sqrt(q)
        a, b = rng.randint(2, 4), nonzero(rng, -5, 5)
        p, q = rng.randint(-3, 3), rng.choice([2, 3, 5, 6, 7])
        return (a * x - b) * (x**2 - 2 * p * x + p**2 - q), [
            sp.Rational(b, a),
            p + sp.sqrt(q),
            p - sp.sqrt(q),
        ]
    if choice == 1:  # two real roots and a quadratic factor without real roots
        r1, r2 = _distinct(rng, 2, -6, 6)
        c = rng.randint(1, 6)
        return (x - r1) * (x - r2) * (x**2 + c), [sp.Integer(r1), sp.Integer(r2)]
    if choice == 2:  # biquadratic: ±sqrt(a), ±sqrt(b)
        a, b = rng.sample([1, 2, 3, 4, 5, 6, 7, 9], 2)
        return (x**2 - a) * (x**2 - b), [sp.sqrt(a), -sp.sqrt(a), sp.sqrt(b), -sp.sqrt(b)]
    r1, r2, r3 = _distinct(rng, 3, -5, 5)
    return (x - r1) * (x - r2) * (x - r3), [sp.Integer(r1), sp.Integer(r2), sp.Integer(r3)]


def make(rng: random.Random, level: str) -> Draft:
    factored, roots = _easy(rng) if level == "easy" else _hard(rng)
    poly = sp.expand(factored)
    question = (
        f"Find all real solutions x of the equation {sp.sstr(poly)} = 0   (LaTeX: ${sp.latex(poly)} = 0$)."
    )
    data = {"equation": sp.sstr(poly), "roots": [sp.sstr(r) for r in roots], "variable": "x"}
    return Draft(question, "roots", data, ", ".join(data["roots"]), ROOTS_FORMAT)
