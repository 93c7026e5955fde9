"""`code/circle-packing`: the host's geometry check and the verifier end to end in real sandboxes."""

from __future__ import annotations

import math

import pytest

from agent.kernel.errors import ParseError
from agent.kernel.plugins import load_suite
from agent.kernel.types import Hypothesis, VerdictStatus
from sandboxes import Sandbox
from tasks.code.packing import CirclePackingVerifier, check_packing


def grid_packing() -> list[tuple[float, float, float]]:
    """A 5 x 5 grid of r = 0.1 plus one small circle in a gap: valid, sum 2.54."""
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1) for i in range(5) for j in range(5)]
    return [*circles, (0.2, 0.2, 0.04)]


GRID_SOURCE = """
def pack():
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1) for i in range(5) for j in range(5)]
    return circles + [(0.2, 0.2, 0.04)]
"""


def test_valid_grid_packing_has_no_violations() -> None:
    circles, problems = check_packing(grid_packing())
    assert problems == []
    assert math.fsum(r for _, _, r in circles) == pytest.approx(2.54, abs=1e-12)


def test_touching_circles_are_allowed_within_tolerance() -> None:
    circles = [*grid_packing()[:25], (0.2, 0.2, math.sqrt(2) * 0.1 - 0.1)]
    assert check_packing(circles)[1] == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c: [*c[:25], (0.2, 0.2, 0.05)], "circles 0 and 25 overlap by 0.00858"),
        (
            lambda c: [(0.05, 0.5, 0.1), *c[1:]],
            "circle 0 (x=0.05, y=0.5, r=0.1) sticks out of the square on the left",
        ),
        (lambda c: [*c[:25], (0.2, 0.99, 0.02)], "on the top by 0.01"),
        (lambda c: [(float("nan"), 0.1, 0.1), *c[1:]], "circle 0 has a non-finite value"),
        (lambda c: [*c[:25], (0.2, 0.2, float("inf"))], "circle 25 has a non-finite value"),
        (lambda c: [*c[:25], (0.2, 0.2, -0.01)], "circle 25 has radius -0.01"),
        (lambda c: c[:25], "expected exactly 26 circles, got 25"),
        (lambda c: [*c[:25], (0.2, 0.2)], "circle 25 is not an (x, y, r) triple"),
        (lambda c: [*c[:25], (0.2, 0.2, True)], "circle 25 is not an (x, y, r) triple"),
        (lambda c: {"circles": c}, "must return a list of 26 (x, y, r) tuples, not a dict"),
        (lambda c: [*c[:25], (0.2, 0.2, 10**400)], "circle 25 has a value too large for a float"),
    ],
    ids=["overlap", "left", "top", "nan", "inf", "negative", "count", "pair", "bool", "dict", "huge-int"],
)
def test_violations_are_named(change: object, needle: str) -> None:
    _, problems = check_packing(change(grid_packing()))  # type: ignore[operator]
    assert problems and any(needle in p for p in problems), problems


def test_suite_is_registered_as_a_single_problem() -> None:
    suite = load_suite("code/circle-packing")
    (task,) = suite.select(None)
    assert "26 circles" in task.instructions and "pack()" in task.instructions
    assert task.held_out is not None and task.held_out.name != task.verifier.name
    assert task.parse("Here:\n```python\n" + GRID_SOURCE + "```\n").strip() == GRID_SOURCE.strip()
    with pytest.raises(ParseError):
        task.parse("no code here")


async def verify(sandbox: Sandbox, source: str):
    return await CirclePackingVerifier(sandbox=sandbox).verify(Hypothesis.create(source))


async def test_valid_program_scores_its_exact_sum(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, GRID_SOURCE)
    assert verdict.status is VerdictStatus.OK, verdict.feedback
    assert verdict.score == math.fsum(r for _, _, r in grid_packing())
    assert "sum of radii = 2.540000" in verdict.feedback


@pytest.mark.parametrize(
    ("tail", "needle"),
    [
        ("c[25] = (0.2, 0.2, 0.05)", "circles 0 and 25 overlap by"),
        ("c[3] = (1.0, 0.5, 0.1)", "circle 3 (x=1, y=0.5, r=0.1) sticks out of the square on the right"),
        ("c[7] = (float('nan'), 0.5, 0.1)", "circle 7 has a non-finite value (x=nan"),
    ],
    ids=["overlap", "outside", "nan"],
)
async def test_invalid_programs_fail_with_the_violation(sandbox: Sandbox, tail: str, needle: str) -> None:
    source = GRID_SOURCE.replace(
        "    return circles", f"    c = circles + [(0.2, 0.2, 0.04)]\n    {tail}\n    return c\n#"
    )
    verdict = await verify(sandbox, source)
    assert verdict.status is VerdictStatus.FAIL and verdict.score is None
    assert needle in verdict.feedback, verdict.feedback


async def test_program_failures_are_unscored(sandbox: Sandbox) -> None:
    crash = await verify(sandbox, "def pack():\n    return 1 / 0\n")
    assert crash.status is VerdictStatus.ERROR and "ZeroDivisionError" in crash.feedback
    missing = await verify(sandbox, "def packing():\n    return []\n")
    assert missing.status is VerdictStatus.INVALID
    forged = await verify(sandbox, "import os\nprint([(0.5, 0.5, 0.5)] * 26)\nos._exit(0)\n")
    assert forged.status is VerdictStatus.ERROR and forged.score is None


async def test_a_huge_integer_radius_is_the_candidates_invalid_packing(sandbox: Sandbox) -> None:
    """10**400 has no float: the host's conversion must end as the candidate's verdict, not an exception
    (which the search would take for an infrastructure failure and retry)."""
    source = GRID_SOURCE.replace("(0.2, 0.2, 0.04)]", "(0.2, 0.2, 10**400)]")
    verdict = await verify(sandbox, source)
    assert verdict.status is VerdictStatus.FAIL and verdict.score is None
    assert "too large for a float" in verdict.feedback, verdict.feedback


async def test_numpy_results_are_accepted(sandbox: Sandbox) -> None:
    source = "import numpy as np\n" + GRID_SOURCE.replace("return circles", "return np.array(circles")
    source = source.replace("(0.2, 0.2, 0.04)]", "(0.2, 0.2, 0.04)])")
    verdict = await verify(sandbox, source)
    if "No module named 'numpy'" in verdict.feedback:
        pytest.skip("numpy is not installed in this sandbox")
    assert verdict.status is VerdictStatus.OK, verdict.feedback
    assert verdict.score == pytest.approx(2.54, abs=1e-12)
