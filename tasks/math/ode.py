"""Initial value problems for linear ODEs with constant coefficients, solved by formula.

The ODE is stored as `lhs = rhs` in the symbols y, yp (y') and ypp (y''), which is what the `ode` check
substitutes the candidate into. Every solution is unique (linear, constant coefficients, enough conditions),
so satisfying the ODE and the conditions is exactly being the answer.
"""

from __future__ import annotations

import random

import sympy as sp

from tasks.math.common import Draft, nonzero, x

DESCRIPTION = "Linear ODE initial value problems, answer y(x) in closed form; 10 easy + 10 hard"

ODE_FORMAT = (
    "End your reply with \\boxed{...} containing only y(x), with every constant determined, in plain SymPy "
    "syntax or LaTeX, e.g. \\boxed{2*exp(3*x) - cos(x)}."
)

y, yp, ypp = sp.symbols("y yp ypp")
_DISPLAY = {ypp: "y''", yp: "y'", y: "y"}


def _display(lhs: sp.Expr) -> str:
    """y'' - 3*y' + 2*y, written highest derivative first (sstr would sort the terms alphabetically)."""
    terms = []
    for sym in (ypp, yp, y):
        c = lhs.coeff(sym)
        if c == 0:
            continue
        sign = "-" if c.could_extract_minus_sign() else "+"
        mag = -c if sign == "-" else c
        body = _DISPLAY[sym] if mag == 1 else f"{sp.sstr(mag)}*{_DISPLAY[sym]}"
        terms.append((sign, body))
    rest = lhs - sum(lhs.coeff(s) * s for s in (ypp, yp, y))
    text = "".join(f" {s} {b}" for s, b in terms).strip()
    text = text[2:] if text.startswith("+ ") else "-" + text[2:]
    if rest != 0:
        text += f" + ({sp.sstr(rest)})"
    return text


def _easy(rng: random.Random) -> tuple[sp.Expr, sp.Expr, list[tuple[int, int, sp.Expr]], sp.Expr]:
    a, b, c = nonzero(rng, -4, 4), nonzero(rng, -5, 5), nonzero(rng, -6, 6)
    choice = rng.randrange(3)
    if choice == 0:  # y' = a*y
        return yp - a * y, sp.Integer(0), [(0, 0, sp.Integer(b))], b * sp.exp(a * x)
    if choice == 1:  # y' + a*y = c
        steady = sp.Rational(c, a)
        return yp + a * y, sp.Integer(c), [(0, 0, sp.Integer(b))], steady + (b - steady) * sp.exp(-a * x)
    return yp, a * x + c, [(0, 0, sp.Integer(b))], a * x**2 / 2 + c * x + b  # y' = a*x + c


def _hard(rng: random.Random) -> tuple[sp.Expr, sp.Expr, list[tuple[int, int, sp.Expr]], sp.Expr]:
    y0, v0 = sp.Integer(nonzero(rng, -4, 4)), sp.Integer(rng.randint(-4, 4))
    conditions = [(0, 0, y0), (1, 0, v0)]
    choice = rng.randrange(5)
    if choice == 0:  # distinct real characteristic roots
        r1, r2 = rng.sample([-3, -2, -1, 1, 2, 3], 2)
        a = (v0 - r2 * y0) / sp.Integer(r1 - r2)
        lhs = ypp - (r1 + r2) * yp + r1 * r2 * y
        return lhs, sp.Integer(0), conditions, a * sp.exp(r1 * x) + (y0 - a) * sp.exp(r2 * x)
    if choice == 1:  # harmonic oscillator
        w = rng.randint(1, 4)
        return ypp + w**2 * y, sp.Integer(0), conditions, y0 * sp.cos(w * x) + v0 / w * sp.sin(w * x)
    if choice == 2:  # repeated root
        r = nonzero(rng, -3, 3)
        return (
            ypp - 2 * r * yp + r**2 * y,
            sp.Integer(0),
            conditions,
            (y0 + (v0 - r * y0) * x) * sp.exp(r * x),
        )
    if choice == 3:  # oscillator with a constant force
        w, c = rng.randint(1, 3), nonzero(rng, -6, 6)
        steady = sp.Rational(c, w**2)
        solution = steady + (y0 - steady) * sp.cos(w * x) + v0 / w * sp.sin(w * x)
        return ypp + w**2 * y, sp.Integer(c), conditions, solution
    a = rng.randint(1, 3)  # first order with an exponential force: y' + a*y = exp(b*x)
    b = rng.choice([v for v in range(-3, 4) if v != -a])
    particular = sp.exp(b * x) / (a + b)
    return yp + a * y, sp.exp(b * x), [(0, 0, y0)], particular + (y0 - sp.Rational(1, a + b)) * sp.exp(-a * x)


def make(rng: random.Random, level: str) -> Draft:
    lhs, rhs, conditions, solution = _easy(rng) if level == "easy" else _hard(rng)
    display = _display(lhs)
    shown_conditions = ", ".join(f"y{chr(39) * order}({x0}) = {sp.sstr(v)}" for order, x0, v in conditions)
    question = (
        f"Solve the initial value problem {display} = {sp.sstr(rhs)}, {shown_conditions}, where y = y(x) "
        "and ' denotes d/dx. Give the solution y(x) in closed form."
    )
    data = {
        "lhs": sp.sstr(lhs),
        "rhs": sp.sstr(rhs),
        "conditions": [[order, x0, sp.sstr(v)] for order, x0, v in conditions],
        "display_lhs": display,
        "variable": "x",
    }
    return Draft(question, "ode", data, sp.sstr(solution), ODE_FORMAT)
