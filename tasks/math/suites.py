"""The math suites: seeded, generated problems with SymPy-checkable answers, one task per family.

Each problem's search verifier explains wrong answers (e.g. where an antiderivative's derivative departs
from the integrand); its held-out verifier is the exact check. Ids are `easy-0`..`easy-9`, `hard-0`..`hard-9`.
Generator modules are imported only when their task is selected, so `assay --help` stays fast.
"""

from __future__ import annotations

import importlib

from agent.kernel.plugins import task
from agent.kernel.task import Suite

FAMILIES: tuple[str, ...] = ("antiderivative", "derivative", "roots", "limit", "series", "ode")


def build_suite(family: str) -> Suite:
    from tasks.math.common import make_suite

    module = importlib.import_module(f"tasks.math.{family}")
    return make_suite(family, module.DESCRIPTION, module.make)


def problems(family: str) -> list:
    """The generated problems of a family with their reference answers (for tests and reports)."""
    from tasks.math.common import generate

    module = importlib.import_module(f"tasks.math.{family}")
    return generate(family, module.make)


@task("math/antiderivative", "Find an antiderivative (constant of integration free); 20 generated problems")
def antiderivative() -> Suite:
    return build_suite("antiderivative")


@task("math/derivative", "Differentiate a function in closed form; 20 generated problems")
def derivative() -> Suite:
    return build_suite("derivative")


@task("math/roots", "All real roots of a polynomial equation, partial credit per root; 20 generated problems")
def roots() -> Suite:
    return build_suite("roots")


@task("math/limit", "Evaluate limits of indeterminate forms; 20 generated problems")
def limit() -> Suite:
    return build_suite("limit")


@task("math/series", "Taylor polynomial about 0 to a given degree; 20 generated problems")
def series() -> Suite:
    return build_suite("series")


@task("math/ode", "Solve a linear ODE initial value problem; 20 generated problems")
def ode() -> Suite:
    return build_suite("ode")
