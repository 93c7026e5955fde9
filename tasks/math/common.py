"""What every math family shares: the problem record, seeded generation, and turning a problem into a Task.

Problems are generated, not stored: each is drawn from its own `random.Random` seeded by family, level and
index, so `math/roots#hard-3` is the same problem on every machine and in every version that keeps its
template, and adding problems never renumbers the existing ones. Answers are built from the construction
(pick the antiderivative, then differentiate it), never by asking SymPy to solve, so generation is fast.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from agent.kernel.needs import Needs
from agent.kernel.task import Suite, Task
from tasks.parsing import boxed
from verifiers.sympy.verifier import CheckKind, SympyVerifier

LEVELS: tuple[str, ...] = ("easy", "hard")
PER_LEVEL = 10
x = sp.Symbol("x")

EXPRESSION_FORMAT = (
    "End your reply with \\boxed{...} containing only the answer, either in plain SymPy syntax "
    "(e.g. \\boxed{x**2*sin(3*x)/2 + exp(-x) + sqrt(x) + log(x)}; ^ also works as power) or in LaTeX "
    "(e.g. \\boxed{\\frac{x^{2}}{2} \\sin(3x)})."
)


@dataclass(frozen=True)
class MathProblem:
    """One generated problem with its reference answer (plain SymPy syntax)."""

    family: str
    problem_id: str
    level: str
    question: str
    answer_format: str
    kind: CheckKind
    data: dict[str, Any]
    answer: str

    @property
    def instructions(self) -> str:
        return f"{self.question}\n\n{self.answer_format}"


@dataclass(frozen=True)
class Draft:
    """What a family's generator returns for one random draw."""

    question: str
    kind: CheckKind
    data: dict[str, Any]
    answer: str
    answer_format: str = EXPRESSION_FORMAT


Generator = Callable[[random.Random, str], Draft]


def show(expr: sp.Basic) -> str:
    """An expression both ways, so the model can read whichever it prefers."""
    return f"{sp.sstr(expr)}   (LaTeX: ${sp.latex(expr)}$)"


def nonzero(rng: random.Random, lo: int, hi: int) -> int:
    return rng.choice([v for v in range(lo, hi + 1) if v != 0])


def generate(family: str, make: Generator, per_level: int = PER_LEVEL) -> list[MathProblem]:
    problems = []
    for level in LEVELS:
        for i in range(per_level):
            rng = random.Random(f"assay/math/{family}/{level}/{i}")
            draft = make(rng, level)
            problems.append(
                MathProblem(
                    family=family,
                    problem_id=f"{level}-{i}",
                    level=level,
                    question=draft.question,
                    answer_format=draft.answer_format,
                    kind=draft.kind,
                    data=draft.data,
                    answer=draft.answer,
                )
            )
    return problems


#: the grader is sympy (with its LaTeX reader) on the host; no candidate code runs anywhere
NEEDS = Needs(host_modules=("sympy", "latex2sympy2_extended"), install="pip install -e .")


def make_task(problem: MathProblem, timeout_s: float = 10.0) -> Task:
    return Task(
        name=f"math/{problem.family}",
        problem_id=problem.problem_id,
        instructions=problem.instructions,
        parse=boxed,
        verifier=SympyVerifier(problem.kind, problem.data, mode="search", timeout_s=timeout_s),
        held_out=SympyVerifier(problem.kind, problem.data, mode="exact", timeout_s=timeout_s),
        info={"family": problem.family, "level": problem.level},
        needs=NEEDS,
    )


def make_suite(family: str, description: str, make: Generator) -> Suite:
    tasks = tuple(make_task(p) for p in generate(family, make))
    return Suite(f"math/{family}", description, tasks, default_problems="0-2")
