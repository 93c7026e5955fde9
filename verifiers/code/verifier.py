"""The code-test verifier: run a candidate function against tests in the sandbox and grade it outside it.

Threat model. The candidate is hostile code written to look like it passes. It runs as the job user inside
the sandbox, so it can do anything that user can: exit early (`sys.exit(0)`, `os._exit(0)`), print anything,
rebind builtins and monkeypatch any module in its own interpreter, return objects with a lying `__eq__`,
read and write the job's files, spawn processes and signal every process of the job user. What it cannot
do is the basis of the design:

1. It never runs in the process that grades. The grader (`verifiers/code/shipped/harness.py`) is a fresh `-I`
   interpreter that loads only trusted code (the prompt's prelude and the tests) and talks to the candidate,
   which runs in a second process, through a pipe. Monkeypatching, `sys.exit`, `os._exit` and overridden
   builtins therefore change only the candidate's own process; an exit there is a crash of the candidate.
2. Only plain values cross the pipe (JSON with tags for tuple/set/bytes/...), decoded strictly by the
   grader, so every comparison is between built-in types: an always-equal object cannot be sent at all.
   Forging a reply is possible, but a forged reply *is* the candidate's answer: it gains nothing.
3. The grader's result is a single line on the job's stdout tagged with a 128-bit nonce that reaches the
   grader through stdin. The candidate inherits neither the grader's stdin nor its stdout (its stdout is the
   protocol pipe; its prints go to stderr), and the grader makes itself non-dumpable before reading the
   nonce, so a same-user process can neither read its memory nor open `/proc/<grader>/fd/1`. A run without
   a genuine result line (the grader was killed, the job hit a limit) is a crash or timeout, never a pass.
4. The test spec, held-out tests included, also travels over stdin and is never written to disk, so the
   candidate cannot read the expected answers out of a test file.

Assumptions and residual risks: the candidate can kill or stop the grader (a crash or timeout verdict, never
a pass). The grader is dumpable for the few milliseconds before its first statement runs, so the scheme
relies on the sandbox leaving no process of one job alive into the next (both sandboxes sweep every
leftover of the job user after each job). Jobs must not run as root, which ignores non-dumpability: the
Docker sandbox uses an unprivileged user without capabilities, the process sandbox run as root drops each
job to an unused uid; run by an ordinary user it offers no isolation at all and is for trusted code only.

Statuses: every case passed -> ok; some failed -> fail with the fraction passed as score; does not compile or
define the function -> invalid; raised or exited while loading, crashed mid-test, or broke the protocol ->
error; ran past the time limit -> timeout. The last three carry no score, whatever passed before.
"""

from __future__ import annotations

import sys

from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from verifiers.code import run as code_run
from verifiers.code.run import CaseResult, CodeRun, CodeSpec, RunStatus, run_code

MAX_REPORTED_FAILURES = 5

#: how a run that did not complete becomes an unscored verdict (for every verifier built on run_code)
UNSCORED_RUNS = {
    RunStatus.SYNTAX: VerdictStatus.INVALID,
    RunStatus.MISSING: VerdictStatus.INVALID,
    RunStatus.LOAD_ERROR: VerdictStatus.ERROR,
    RunStatus.CRASHED: VerdictStatus.ERROR,
    RunStatus.TIMEOUT: VerdictStatus.TIMEOUT,
}


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def describe_failure(index: int, r: CaseResult) -> str:
    """One failed test as the model should see it: the call, what was expected, what came back, and why."""
    lines = [f"FAILED test {index + 1}: {r.case.shown}"]
    if r.line and r.line != r.case.shown:
        lines.append(f"  at: {r.line}")
    if r.expected is not None:
        lines.append(f"  expected: {r.expected}")
    if r.got is not None:
        lines.append(f"  got:      {r.got}")
    if r.error and r.got is None:
        lines.append(f"  {r.error}")
    if r.traceback:
        lines.append("  traceback (candidate frames):")
        lines.append(_indent(r.traceback))
    return "\n".join(lines)


def describe_run(run: CodeRun, what: str = "tests") -> str:
    """Feedback for a whole run: the tally, the first failures, and for a crash what killed it."""
    total = len(run.results)
    parts: list[str] = []
    if run.status in (RunStatus.SYNTAX, RunStatus.MISSING):
        parts.append(f"The code could not be loaded:\n{_indent(run.message)}")
    elif run.status is RunStatus.LOAD_ERROR:
        parts.append(f"The code raised while being loaded:\n{_indent(run.message)}")
    else:
        failures = [(i, r) for i, r in enumerate(run.results) if not r.passed]
        if run.status is RunStatus.OK:
            parts.append(f"{run.passed}/{total} {what} passed.")
        else:
            parts.append(f"{run.message}. {run.passed} {what} passed before that.")
        parts.extend(describe_failure(i, r) for i, r in failures[:MAX_REPORTED_FAILURES])
        if len(failures) > MAX_REPORTED_FAILURES:
            parts.append(f"... and {len(failures) - MAX_REPORTED_FAILURES} more failed.")
    if run.status is not RunStatus.OK and run.stderr_tail.strip():
        parts.append(f"stderr (tail):\n{_indent(run.stderr_tail)}")
    return "\n".join(parts)


class CodeTestVerifier:
    """Scores a candidate by the fraction of `spec`'s cases it passes; ok only when all pass."""

    def __init__(
        self,
        spec: CodeSpec,
        *,
        name: str = "code-tests",
        sandbox: Sandbox | None = None,
        limits: Limits | None = None,
        python: str = "python3",
        what: str = "tests",
    ) -> None:
        if not spec.cases:
            raise ValueError("a code-test verifier needs at least one test case")
        self.name = name
        self.spec = spec
        self.sandbox = sandbox
        self.limits = limits or Limits()
        self.python = python
        self.what = what
        #: the tests (held-out ones included), limits and interpreter, the grading harness shipped into the
        #: sandbox, and the host code that reads its report and words the feedback
        self.version = fingerprint(
            spec, self.limits, python, what, code_run.HARNESS_SOURCE, code_run, sys.modules[__name__]
        )

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        run = await run_code(
            hypothesis.content, self.spec, sandbox=self.sandbox, limits=self.limits, python=self.python
        )
        feedback = describe_run(run, self.what)
        metrics = {"passed": float(run.passed), "total": float(len(self.spec.cases))}
        if run.status in UNSCORED_RUNS:
            status = UNSCORED_RUNS[run.status]
            return Verdict(status=status, feedback=feedback, metrics=metrics, duration_s=run.duration_s)
        score = run.passed / len(self.spec.cases)
        status = VerdictStatus.OK if run.passed == len(self.spec.cases) else VerdictStatus.FAIL
        return Verdict(
            status=status, score=score, feedback=feedback, metrics=metrics, duration_s=run.duration_s
        )
