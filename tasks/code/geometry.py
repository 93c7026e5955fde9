"""The geometry of a circle packing, checked on the host: what is wrong with it, and what would repair it.

Everything here runs on plain floats that the grader decoded from the candidate's reply, never on objects
the candidate built, so no method of the candidate's can take part in a check. Two checks exist:

- the search check allows a tolerance (1e-9 by default), as the published evaluators do, so an optimiser's
  touching circles are not rejected for the last bit of a float;
- the exact check (`exact=True`) decides containment and overlap in rational arithmetic on the exact values
  of the returned floats (`fractions.Fraction`), overlap through squared distances, so no square root or
  rounding can hide an overlap. The held-out verifier uses it: no reported score rests on the tolerance.

A violation carries its size, so feedback can show the worst first, and `repair` computes the sum a valid
version would have: the model learns not only that its packing is wrong but how far from right it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

Circle = tuple[float, float, float]


@dataclass(frozen=True)
class Violation:
    """One broken rule of a packing that has the right shape: a circle leaving the square, or two circles
    overlapping, by `amount` (a length: how far it sticks out, how deep the two overlap)."""

    kind: str  # "outside" | "overlap"
    circles: tuple[int, ...]
    amount: float
    text: str


def as_circles(value: Any, n: int) -> tuple[list[Circle], list[str]]:
    """The returned value as `n` float triples, and every reason it is not one (an empty list: it is).

    Only built-in numbers count (the wire already turned numpy scalars into them); bools are refused since
    `True` as a radius is a type error in any honest program. An int too large for a float is the
    candidate's invalid packing, not an exception of ours (which the search would retry as infrastructure).
    """
    if not isinstance(value, list | tuple):
        return [], [f"pack() must return a list of {n} (x, y, r) tuples, not a {type(value).__name__}"]
    circles: list[Circle] = []
    problems: list[str] = []
    for i, item in enumerate(value):
        ok = isinstance(item, list | tuple) and len(item) == 3
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
        if not ok:
            problems.append(f"circle {i} is not an (x, y, r) triple of numbers: {str(item)[:80]}")
            continue
        try:
            circles.append((float(item[0]), float(item[1]), float(item[2])))
        except OverflowError:
            problems.append(f"circle {i} has a value too large for a float: {str(item)[:80]}")
    if len(value) != n:
        problems.insert(0, f"expected exactly {n} circles, got {len(value)}")
    return circles, problems


def shape_problems(circles: list[Circle]) -> list[str]:
    """Non-finite values and non-positive radii: a packing with these has no geometry to measure."""
    problems = []
    for i, (x, y, r) in enumerate(circles):
        if not all(math.isfinite(v) for v in (x, y, r)):
            problems.append(f"circle {i} has a non-finite value (x={x}, y={y}, r={r})")
        elif r <= 0:
            problems.append(f"circle {i} has radius {r}; radii must be positive")
    return problems


def _describe_circle(i: int, c: Circle) -> str:
    return f"circle {i} (x={c[0]:.6g}, y={c[1]:.6g}, r={c[2]:.6g})"


def _outside(i: int, c: Circle, tol: float, exact: bool) -> Violation | None:
    x, y, r = c
    if exact:
        fx, fy, fr = Fraction(x), Fraction(y), Fraction(r)
        sides = {"left": fr - fx, "right": fx + fr - 1, "bottom": fr - fy, "top": fy + fr - 1}
        side, by = max(sides.items(), key=lambda kv: kv[1])
        if by <= 0:
            return None
        amount = float(by)
        how = f"by {amount:.3g} in exact arithmetic"
    else:
        sides_f = {"left": r - x, "right": x + r - 1, "bottom": r - y, "top": y + r - 1}
        side, amount = max(sides_f.items(), key=lambda kv: kv[1])
        if amount <= tol:
            return None
        how = f"by {amount:.3g}"
    text = f"{_describe_circle(i, c)} sticks out of the square on the {side} {how}"
    return Violation("outside", (i,), amount, text)


def _overlap(i: int, j: int, a: Circle, b: Circle, tol: float, exact: bool) -> Violation | None:
    if exact:
        dx, dy = Fraction(a[0]) - Fraction(b[0]), Fraction(a[1]) - Fraction(b[1])
        s = Fraction(a[2]) + Fraction(b[2])
        short = s * s - (dx * dx + dy * dy)  # > 0 exactly when the circles overlap
        if short <= 0:
            return None
        amount = float(short / (2 * s))  # the overlap depth to first order: s - d = (s^2 - d^2) / (s + d)
        text = (
            f"circles {i} and {j} overlap in exact arithmetic: the squared distance of their centres is "
            f"{float(short):.3g} short of the squared sum of their radii (overlap about {amount:.3g})"
        )
        return Violation("overlap", (i, j), amount, text)
    d = math.hypot(a[0] - b[0], a[1] - b[1])
    amount = a[2] + b[2] - d
    if amount <= tol:
        return None
    text = f"circles {i} and {j} overlap by {amount:.3g} (centres {d:.6g} apart, radii sum {a[2] + b[2]:.6g})"
    return Violation("overlap", (i, j), amount, text)


def violations(circles: list[Circle], tol: float = 1e-9, *, exact: bool = False) -> list[Violation]:
    """Every circle outside the square and every overlapping pair, worst first.

    Assumes `shape_problems` found nothing. Exact mode ignores `tol`: it is the check no float rounding
    can pass by accident."""
    found = [v for i, c in enumerate(circles) if (v := _outside(i, c, tol, exact)) is not None]
    for i, a in enumerate(circles):
        for j in range(i + 1, len(circles)):
            if (v := _overlap(i, j, a, circles[j], tol, exact)) is not None:
                found.append(v)
    return sorted(found, key=lambda v: -v.amount)


def check_packing(value: Any, n: int = 26, tol: float = 1e-9) -> tuple[list[Circle], list[str]]:
    """The circles and every rule they break, worst first (an empty list means the packing is valid)."""
    circles, problems = as_circles(value, n)
    if problems:
        return circles, problems
    problems = shape_problems(circles)
    if problems:
        return circles, problems
    return circles, [v.text for v in violations(circles, tol)]


def repair(circles: list[Circle]) -> list[Circle]:
    """The packing with radii shrunk just enough to be valid, the centres kept: each radius capped at its
    centre's distance to the walls (0 for a centre outside the square), then every overlapping pair,
    deepest overlap first, scaled down in proportion until the two touch. Radii only ever shrink, so a pair
    fixed once stays fixed and one pass suffices. Not the best radii for these centres (that is a linear
    program), but a number the model can compare with its claimed sum, computed here on the host."""
    fixed = [(x, y, max(0.0, min(r, x, 1 - x, y, 1 - y))) for x, y, r in circles]
    pairs = []
    for i, a in enumerate(fixed):
        for j in range(i + 1, len(fixed)):
            b = fixed[j]
            d = math.hypot(a[0] - b[0], a[1] - b[1])
            if a[2] + b[2] > d:
                pairs.append((a[2] + b[2] - d, i, j, d))
    radii = [r for _, _, r in fixed]
    for _, i, j, d in sorted(pairs, reverse=True):
        s = radii[i] + radii[j]
        if s > d:
            radii[i], radii[j] = radii[i] * d / s, radii[j] * d / s
    return [(x, y, r) for (x, y, _), r in zip(fixed, radii, strict=True)]
