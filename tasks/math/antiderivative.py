"""Antiderivatives: pick F, show f = F'. Easy ones are term by term; hard ones need parts or substitution."""

from __future__ import annotations

import random

import sympy as sp

from tasks.math.common import Draft, nonzero, show, x

DESCRIPTION = "Antiderivatives (any constant of integration accepted); 10 easy + 10 hard"


def _easy(rng: random.Random) -> tuple[sp.Expr, sp.Expr]:
    a, b, c = nonzero(rng, -5, 5), rng.randint(2, 4), nonzero(rng, -4, 4)
    n = rng.randint(3, 6)
    templates = [
        lambda: a * x**n + c * x**2 + b * x,
        lambda: a * sp.sin(b * x) + c * sp.cos(x),
        lambda: a * sp.exp(b * x) + c * x**3,
        lambda: a * sp.log(x) + c * x**n,
        lambda: a * sp.sqrt(x) ** 3 + c * x,
    ]
    F = rng.choice(templates)()
    return sp.diff(F, x), F


def _hard(rng: random.Random) -> tuple[sp.Expr, sp.Expr]:
    a = rng.randint(2, 5)
    b = nonzero(rng, -3, 3)
    # (integrand, antiderivative) pairs; the test suite checks F' == f for every generated problem
    templates = [
        lambda: (x * sp.exp(a * x), sp.exp(a * x) * (a * x - 1) / a**2),
        lambda: (x * sp.cos(a * x), x * sp.sin(a * x) / a + sp.cos(a * x) / a**2),
        lambda: (x**2 * sp.exp(b * x), sp.exp(b * x) * (x**2 / b - 2 * x / b**2 + 2 / sp.Integer(b) ** 3)),
        lambda: (b * x * sp.exp(a * x**2), b * sp.exp(a * x**2) / (2 * a)),
        lambda: (1 / (x**2 + a**2), sp.atan(x / a) / a),
        lambda: (x * sp.log(x), x**2 * sp.log(x) / 2 - x**2 / 4),
        lambda: (sp.sin(a * x) ** 2, x / 2 - sp.sin(2 * a * x) / (4 * a)),
        lambda: (x / sp.sqrt(x**2 + a), sp.sqrt(x**2 + a)),
        lambda: (sp.exp(x) * sp.sin(a * x), sp.exp(x) * (sp.sin(a * x) - a * sp.cos(a * x)) / (1 + a**2)),
        lambda: ((2 * x + b) / (x**2 + b * x + a**2 + 9), sp.log(x**2 + b * x + a**2 + 9)),
        lambda: (sp.cos(x) * sp.sin(x) ** a, sp.sin(x) ** (a + 1) / (a + 1)),
    ]
    return rng.choice(templates)()


def make(rng: random.Random, level: str) -> Draft:
    integrand, F = _easy(rng) if level == "easy" else _hard(rng)
    question = (
        f"Find an antiderivative F(x) of f(x) = {show(integrand)} with respect to x, i.e. a function with "
        "F'(x) = f(x). Any constant of integration is fine."
    )
    return Draft(question, "antiderivative", {"integrand": sp.sstr(integrand)}, sp.sstr(F))
