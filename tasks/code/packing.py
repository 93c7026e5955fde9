"""The circle-packing verifier: run the candidate's `pack()` in the sandbox, check the geometry on the host.

The candidate's program only *proposes* circles; every number is re-checked here (`tasks/code/geometry.py`),
on plain floats decoded by the grader, so nothing the program prints or claims counts. A packing is valid
when it has exactly `n` circles with finite coordinates, positive radii, each inside the unit square and no
two overlapping; its score is then the sum of the radii. Any violation is a `fail` without a score, since an
invalid packing must never outrank a valid one.

The feedback is written for a repair, because a model that is only told "invalid" tends to resubmit the
same mistake: the worst violations by size, the sum the packing would have with its radii shrunk just
enough, and for a timeout how long it ran against which limit. With `exact=True` (the held-out check) the
geometry is decided in rational arithmetic, so a packing that is valid only within the tolerance fails.
"""

from __future__ import annotations

import math
import re
import sys

from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from tasks.code import geometry
from tasks.code.geometry import (
    Circle,
    Violation,
    as_circles,
    check_packing,
    repair,
    shape_problems,
    violations,
)
from verifiers.code import run as code_run
from verifiers.code.run import (
    CaseResult,
    CodeRun,
    CodeSpec,
    RunStatus,
    TestCase,
    candidate_deadline,
    run_code,
)
from verifiers.code.verifier import UNSCORED_RUNS, describe_run

MAX_REPORTED = 6
#: the margin the feedback suggests for an exactly valid packing: far above float rounding (~1e-16 for
#: values below 1), far below anything that changes the sum visibly
SAFE_MARGIN = 1e-12

__all__ = ["Circle", "CirclePackingVerifier", "check_packing"]


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def _listed(items: list[str]) -> str:
    shown = [f"- {p}" for p in items[:MAX_REPORTED]]
    if len(items) > MAX_REPORTED:
        shown.append(f"- ... and {len(items) - MAX_REPORTED} more")
    return "\n".join(shown)


def timeout_feedback(run: CodeRun, limits: Limits) -> str:
    """How long the program ran against which limit, and the advice that fixes most timeouts."""
    deadline = candidate_deadline(limits)
    text = (
        f"pack() did not return in time: the program was stopped after {run.duration_s:.1f} s; the limit is "
        f"{deadline:g} s of wall-clock time, imports included, and a program past it scores nothing.\n"
        "Bound the optimisation: cap its iterations or restarts, and check time.perf_counter() so that it "
        f"returns the best valid packing found so far by about {deadline / 2:g} s (the machine may be "
        "slower than yours)."
    )
    if run.stderr_tail.strip():
        text += f"\nstderr (tail):\n{_indent(run.stderr_tail)}"
    return text


_MISSING_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")


def with_missing_module_hint(feedback: str) -> str:
    """An import the sandbox cannot satisfy, said as such: whether scipy is there depends on the sandbox
    (the prompt states the condition), and a model told only "ModuleNotFoundError" tends to import it
    again. The hint comes from the candidate's own run, so it is true of the sandbox that judged it."""
    found = _MISSING_MODULE.search(feedback)
    if found is None:
        return feedback
    module = found.group(1).split(".")[0]
    return (
        f"{feedback}\nThis sandbox's Python has no module {module!r}: use what the instructions say is "
        "always available (the standard library and numpy), or import it inside try/except ImportError "
        "with a fallback."
    )


#: scipy.optimize misuses the embedded model made, each with the fix its documentation gives. The message
#: alone was in the repair prompt (with the traceback) and the repair repeated the mistake (bench/RESULTS.md,
#: "Circle packing with the embedded model"): a small model needs the fix said.
SCIPY_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"'function' object is not (iterable|subscriptable)"),
        "scipy.optimize.minimize takes `constraints` as a dict {'type': 'ineq', 'fun': g} (g(x) returns an "
        "array that must be >= 0) or a list of such dicts, not a bare function.",
    ),
    (
        re.compile(r"'x0' must only have one dimension"),
        "scipy.optimize.minimize optimises a flat vector: pass x0.ravel() and reshape inside the objective "
        "and the constraints (e.g. x.reshape(-1, 3)).",
    ),
    (
        re.compile(r"function must return a scalar|only (length-1|size-1) arrays can be converted"),
        "the objective passed to scipy.optimize.minimize must return one float (e.g. -radii.sum()), not an "
        "array.",
    ),
)


def with_scipy_fix(feedback: str) -> str:
    """The fix for a known scipy.optimize misuse, when the error came from scipy (its frames or its name in
    the error); other errors are left as they are."""
    if "scipy" not in feedback and "minimize" not in feedback:
        return feedback
    fixes = [fix for pattern, fix in SCIPY_FIXES if pattern.search(feedback)]
    return feedback if not fixes else feedback + "\nLikely fix: " + " ".join(fixes)


def raised_feedback(result: CaseResult) -> str:
    """pack() raised, or returned a value that is not plain data: the error with the candidate's frames."""
    error = (result.error or "failed").removeprefix("raised ")
    text = f"pack() raised {error}"
    if result.traceback:
        text += f"\nTraceback (your code's frames; library frames collapsed):\n{_indent(result.traceback)}"
    return text


def invalid_feedback(circles: list[Circle], found: list[Violation], tol: float, exact: bool) -> str:
    """The worst violations, their tally, and the sum a minimally repaired packing would have."""
    outside = sum(v.kind == "outside" for v in found)
    overlaps = len(found) - outside
    how = "in exact arithmetic" if exact else f"with a tolerance of {tol:g}"
    claimed = math.fsum(r for _, _, r in circles)
    repaired = math.fsum(r for _, _, r in repair(circles))
    lines = [
        f"The packing is invalid ({how}): {outside} circle(s) stick out of the square and {overlaps} pair(s) "
        "overlap. The worst first:",
        _listed([v.text for v in found]),
        f"Its radii sum to {claimed:.6f}, but that counts for nothing while it is invalid. Shrinking the "
        "radii just enough (each capped at its centre's distance to the walls, then each overlapping pair "
        f"scaled down until it touches) would give a valid packing with sum {repaired:.6f}.",
        "To repair it, compute the radii from the centres that way before returning them (leaving a margin "
        f"of about {SAFE_MARGIN:g}), or move the offending centres apart.",
    ]
    return "\n".join(lines)


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
        exact: bool = False,
        best_known: float | None = None,
        python: str = "python3",
    ) -> None:
        self.n = n
        self.name = name
        self.sandbox = sandbox
        self.limits = limits or Limits(wall_s=20.0)
        self.tol = tol
        self.exact = exact
        self.best_known = best_known
        self.python = python
        self.spec = CodeSpec("pack", (TestCase.call("pack()"),))
        self.version = fingerprint(
            n,
            self.limits,
            tol,
            exact,
            best_known,
            python,
            code_run.HARNESS_SOURCE,
            code_run,
            geometry,
            sys.modules[__name__],
        )

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        run = await run_code(
            hypothesis.content, self.spec, sandbox=self.sandbox, limits=self.limits, python=self.python
        )
        if run.status in UNSCORED_RUNS:
            feedback = (
                timeout_feedback(run, self.limits)
                if run.status is RunStatus.TIMEOUT
                else with_missing_module_hint(describe_run(run))
            )
            return Verdict(status=UNSCORED_RUNS[run.status], feedback=feedback, duration_s=run.duration_s)
        result = run.results[0]
        if not result.passed:  # pack() raised or returned something that is not plain data
            return Verdict(
                status=VerdictStatus.ERROR,
                feedback=with_scipy_fix(with_missing_module_hint(raised_feedback(result))),
                duration_s=run.duration_s,
            )
        return self.judge(result.value, run.duration_s)

    def judge(self, value: object, duration_s: float = 0.0) -> Verdict:
        """The verdict on a returned value, on the host alone (public so tests can reach every branch)."""
        circles, problems = as_circles(value, self.n)
        problems = problems or shape_problems(circles)
        if problems:
            feedback = "The packing is invalid:\n" + _listed(problems)
            return Verdict(
                status=VerdictStatus.FAIL,
                feedback=feedback,
                metrics={"violations": float(len(problems))},
                duration_s=duration_s,
            )
        found = violations(circles, self.tol, exact=self.exact)
        if found:
            return Verdict(
                status=VerdictStatus.FAIL,
                feedback=invalid_feedback(circles, found, self.tol, self.exact),
                metrics={
                    "violations": float(len(found)),
                    "worst_violation": found[0].amount,
                    "repaired_sum": math.fsum(r for _, _, r in repair(circles)),
                },
                duration_s=duration_s,
            )
        return self._valid(circles, duration_s)

    def _valid(self, circles: list[Circle], duration_s: float) -> Verdict:
        total = math.fsum(r for _, _, r in circles)
        exact_found = [] if self.exact else violations(circles, exact=True)
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
        if exact_found:
            feedback += (
                f"\nWarning: it is valid only within the tolerance of {self.tol:g}; in exact arithmetic "
                f"{len(exact_found)} rule(s) are broken, e.g. {exact_found[0].text}. The final result is "
                f"checked exactly, without a tolerance: shrink every radius by about {SAFE_MARGIN:g} "
                "before returning it."
            )
        return Verdict(
            status=VerdictStatus.OK,
            score=total,
            feedback=feedback,
            metrics={
                "sum_radii": total,
                "min_gap": min_gap,
                "min_radius": min(r for _, _, r in circles),
                "exactly_valid": float(not exact_found),
            },
            duration_s=duration_s,
        )
