"""The circle-packing verifier: run the candidate's `pack()` in the sandbox, check the geometry on the host.

The candidate's program only *proposes* circles; every number is re-checked here, on plain floats decoded
by the grader, so nothing the program prints or claims counts. A packing is valid when it has exactly `n`
circles with finite coordinates, positive radii, each inside the unit square and no two overlapping (all up
to `tol`); its score is then the sum of the radii. Any violation is a `fail` without a score, naming the
circles involved and by how much, since an invalid packing must never outrank a valid one.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from verifiers.code import run as code_run
from verifiers.code.run import CodeSpec, TestCase, run_code
from verifiers.code.verifier import UNSCORED_RUNS, describe_failure, describe_run

MAX_REPORTED = 8
Circle = tuple[float, float, float]


def _as_circles(value: Any, n: int) -> tuple[list[Circle], list[str]]:
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
        circles.append((float(item[0]), float(item[1]), float(item[2])))
    if len(value) != n:
        problems.insert(0, f"expected exactly {n} circles, got {len(value)}")
    return circles, problems


def check_packing(value: Any, n: int = 26, tol: float = 1e-9) -> tuple[list[Circle], list[str]]:
    """The circles and every rule they break (an empty list means the packing is valid)."""
    circles, problems = _as_circles(value, n)
    if problems:
        return circles, problems
    for i, (x, y, r) in enumerate(circles):
        if not all(math.isfinite(v) for v in (x, y, r)):
            problems.append(f"circle {i} has a non-finite value (x={x}, y={y}, r={r})")
        elif r <= 0:
            problems.append(f"circle {i} has radius {r}; radii must be positive")
        else:
            out = {"left": r - x, "right": x + r - 1, "bottom": r - y, "top": y + r - 1}
            side, by = max(out.items(), key=lambda kv: kv[1])
            if by > tol:
                problems.append(
                    f"circle {i} (x={x:.6g}, y={y:.6g}, r={r:.6g}) sticks out of the square on the {side} "
                    f"by {by:.3g}"
                )
    if problems:
        return circles, problems
    for i in range(n):
        xi, yi, ri = circles[i]
        for j in range(i + 1, n):
            xj, yj, rj = circles[j]
            gap = math.hypot(xi - xj, yi - yj) - (ri + rj)
            if gap < -tol:
                problems.append(
                    f"circles {i} and {j} overlap by {-gap:.3g} (centres {math.hypot(xi - xj, yi - yj):.6g} "
                    f"apart, radii sum {ri + rj:.6g})"
                )
    return circles, problems


class CirclePackingVerifier:
    """Scores a `pack()` program by the sum of the radii of its (strictly checked) packing."""

    def __init__(
        self,
        n: int = 26,
        *,
        name: str = "circle-packing",
        sandbox: Sandbox | None = None,
        limits: Limits | None = None,
        tol: float = 1e-9,
        best_known: float | None = None,
        python: str = "python3",
    ) -> None:
        self.n = n
        self.name = name
        self.sandbox = sandbox
        self.limits = limits or Limits(wall_s=20.0)
        self.tol = tol
        self.best_known = best_known
        self.python = python
        self.spec = CodeSpec("pack", (TestCase.call("pack()"),))
        self.version = fingerprint(
            n, self.limits, tol, best_known, python, code_run.HARNESS_SOURCE, code_run, sys.modules[__name__]
        )

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        run = await run_code(
            hypothesis.content, self.spec, sandbox=self.sandbox, limits=self.limits, python=self.python
        )
        if run.status in UNSCORED_RUNS:
            return Verdict(
                status=UNSCORED_RUNS[run.status], feedback=describe_run(run), duration_s=run.duration_s
            )
        result = run.results[0]
        if not result.passed:  # pack() raised or returned something that is not plain data
            return Verdict(
                status=VerdictStatus.ERROR, feedback=describe_failure(0, result), duration_s=run.duration_s
            )
        circles, problems = check_packing(result.value, self.n, self.tol)
        if problems:
            shown = problems[:MAX_REPORTED]
            if len(problems) > MAX_REPORTED:
                shown.append(f"... and {len(problems) - MAX_REPORTED} more violations")
            feedback = "The packing is invalid:\n" + "\n".join(f"- {p}" for p in shown)
            return Verdict(
                status=VerdictStatus.FAIL,
                feedback=feedback,
                metrics={"violations": float(len(problems))},
                duration_s=run.duration_s,
            )
        total = math.fsum(r for _, _, r in circles)
        min_gap = min(
            (
                math.hypot(a[0] - b[0], a[1] - b[1]) - a[2] - b[2]
                for k, a in enumerate(circles)
                for b in circles[k + 1 :]
            ),
            default=0.0,
        )
        best = f" (best known: about {self.best_known})" if self.best_known else ""
        feedback = f"Valid packing of {self.n} circles: sum of radii = {total:.6f}{best}."
        return Verdict(
            status=VerdictStatus.OK,
            score=total,
            feedback=feedback,
            metrics={"sum_radii": total, "min_gap": min_gap, "min_radius": min(r for _, _, r in circles)},
            duration_s=run.duration_s,
        )
