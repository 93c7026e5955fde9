"""Derivatives: easy ones are sums of elementary terms; hard ones need the product, quotient, chain rules."""

from __future__ import annotations

import random

import sympy as sp

from tasks.math.common import Draft, nonzero, show, x

DESCRIPTION = "Derivatives in closed form; 10 easy + 10 hard"


def _function(rng: random.Random, level: str) -> sp.Expr:
    a, b, c = nonzero(rng, -5, 5), rng.randint(2, 5), nonzero(rng, -4, 4)
    n = rng.randint(2, 6)
    if level == "easy":
        templates = [
            lambda: a * x**n + c * x**2 - b * x + 7,
            lambda: a * sp.sin(b * x) + c * x**2,
            lambda: a * sp.exp(b * x) - c * x,
            lambda: a * sp.log(x) + c * sp.cos(b * x),
            lambda: a * sp.sqrt(x) + c / x,
        ]
    else:
        templates = [
            lambda: x**n * sp.sin(b * x),
            lambda: sp.exp(a * x) * sp.cos(b * x**2),
            lambda: sp.log(x**2 + b) / x,
            lambda: sp.sqrt(b + x**2) * sp.atan(x),
            lambda: sp.sin(x) ** n * sp.cos(b * x),
            lambda: sp.exp(sp.sin(a * x)),
            lambda: (x**2 + b) / (x**2 - c * x + b + 5),
            lambda: x * sp.log(b * x) ** 2,
            lambda: sp.tan(b * x) * sp.exp(-x),
            lambda: sp.asin(x / b) * x**2,
        ]
    return rng.choice(templates)()


def make(rng: random.Random, level: str) -> Draft:
    f = _function(rng, level)
    question = f"Compute the derivative f'(x) of f(x) = {show(f)} with respect to x."
    data = {"expected": sp.sstr(sp.diff(f, x)), "variables": ["x"], "what": "derivative"}
    return Draft(question, "equivalent", data, data["expected"])
