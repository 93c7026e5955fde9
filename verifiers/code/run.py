"""Run a candidate program against test cases in the sandbox and bring back what happened, as data.

This is the engine under the code verifiers: it packs the candidate, the public prelude and the grading
harness (`shipped/harness.py`) into one sandbox `Job`, hands the secret parts (a per-job nonce and the test
spec, held-out tests included) to the grader over stdin, and parses the grader's single result line.
It knows nothing about scores or feedback wording; the verifiers built on it decide those.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from agent.kernel.errors import VerifierError
from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox
from verifiers.code.shipped.harness import RESULT_MARK, decode
from verifiers.sandboxed import read_record, run_job, tail, unfinished

HARNESS_SOURCE = (Path(__file__).parent / "shipped" / "harness.py").read_text(encoding="utf-8")
CANDIDATE_FILE = "candidate.py"
PRELUDE_FILE = "prompt.py"


@dataclass(frozen=True)
class TestCase:
    """One test. `value`: compare `code` (an expression calling the candidate) with `expected` (an
    expression); `stmt`: run `code` (e.g. `assert ...` or `check(candidate)`), passing if nothing raises;
    `call`: evaluate `code` and bring the plain value back to the host for a task-specific check."""

    __test__ = False  # not a pytest class

    kind: Literal["value", "stmt", "call"]
    code: str
    expected: str | None = None
    label: str = ""

    @classmethod
    def value(cls, code: str, expected: str, label: str = "") -> TestCase:
        return cls("value", code, expected, label)

    @classmethod
    def stmt(cls, code: str, label: str = "") -> TestCase:
        return cls("stmt", code, None, label)

    @classmethod
    def call(cls, code: str, label: str = "") -> TestCase:
        return cls("call", code, None, label)

    @property
    def shown(self) -> str:
        return self.label or self.code.strip()


@dataclass(frozen=True)
class CodeSpec:
    """What to test: the function `entry_point` the candidate must define, and the cases that call it.

    `prelude` is public problem code run before the candidate (e.g. HumanEval's prompt with its imports and
    helpers) in both processes; `setup` is test code (helpers, `check`) run only in the grader."""

    entry_point: str
    cases: tuple[TestCase, ...]
    prelude: str = ""
    setup: str = ""


class RunStatus(StrEnum):
    OK = "ok"  # the candidate loaded and every case ran (each passed or failed)
    SYNTAX = "syntax"  # the candidate does not compile
    MISSING = "missing"  # it compiles but does not define the entry point
    LOAD_ERROR = "load_error"  # it raised or exited while being loaded
    TIMEOUT = "timeout"  # it ran past the time limit
    CRASHED = "crashed"  # its process died (exit, signal, OOM) or broke the test protocol


@dataclass(frozen=True)
class CaseResult:
    case: TestCase
    passed: bool
    got: str | None = None
    expected: str | None = None
    error: str | None = None
    line: str | None = None
    traceback: str | None = None
    value: Any = None  # the decoded plain value of a `call` case


@dataclass(frozen=True)
class CodeRun:
    status: RunStatus
    results: tuple[CaseResult, ...] = ()
    message: str = ""
    stderr_tail: str = ""
    duration_s: float = 0.0
    exec_result: ExecResult | None = field(default=None, repr=False)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)


def candidate_deadline(limits: Limits) -> float:
    """Seconds the candidate gets, imports included, before the grader stops it: the job's wall limit less
    a margin in which the grader still reports (so a slow candidate is a timeout with its tail of stderr,
    not a job killed mid-report). Tasks state this number in their prompts."""
    return limits.wall_s - min(1.5, limits.wall_s * 0.2)


def build_job(source: str, spec: CodeSpec, limits: Limits, python: str) -> tuple[Job, str]:
    """The sandbox job for one candidate, and the nonce its genuine result line will carry."""
    nonce = secrets.token_hex(16)
    secret = {
        "nonce": nonce,
        "spec": {
            "entry_point": spec.entry_point,
            "prelude": spec.prelude,
            "setup": spec.setup,
            "cases": [{"kind": c.kind, "code": c.code, "expected": c.expected} for c in spec.cases],
            "candidate_file": CANDIDATE_FILE,
            "prelude_file": PRELUDE_FILE if spec.prelude else "",
            "deadline_s": candidate_deadline(limits),
        },
    }
    files: dict[str, bytes | str] = {"harness.py": HARNESS_SOURCE, CANDIDATE_FILE: source}
    if spec.prelude:
        files[PRELUDE_FILE] = spec.prelude
    job = Job(
        command=[python, "-I", "-S", "harness.py", "grade"],
        files=files,
        stdin=json.dumps(secret).encode(),
        limits=limits,
    )
    return job, nonce


def _tail(text: str) -> str:
    return tail(text, 1500)


def _no_report(result: ExecResult) -> CodeRun:
    """The grader never reported: the job hit a hard limit, or the candidate killed the grader."""
    ended = unfinished(result, finished=False)
    assert ended is not None
    if ended.kind == "timeout":
        message = "the program ran past the time limit"
        return CodeRun(RunStatus.TIMEOUT, message=message, stderr_tail=ended.stderr_tail)
    if ended.kind == "oom":
        return CodeRun(
            RunStatus.CRASHED, message="the program ran out of memory", stderr_tail=ended.stderr_tail
        )
    message = f"the test run was killed before it finished ({ended.how})"
    return CodeRun(RunStatus.CRASHED, message=message, stderr_tail=ended.stderr_tail)


def _results(spec: CodeSpec, raw_cases: list[dict[str, Any]]) -> tuple[CaseResult, ...]:
    out = []
    for case, raw in zip(spec.cases, raw_cases, strict=False):
        value = decode(json.loads(raw["value"])) if raw.get("value") is not None else None
        out.append(
            CaseResult(
                case=case,
                passed=bool(raw.get("passed")),
                got=raw.get("got"),
                expected=raw.get("expected"),
                error=raw.get("error"),
                line=raw.get("line"),
                traceback=raw.get("tb") or None,
                value=value,
            )
        )
    return tuple(out)


_LOAD_STATUS = {"syntax": RunStatus.SYNTAX, "missing": RunStatus.MISSING, "error": RunStatus.LOAD_ERROR}
_GONE_STATUS = {"timeout": RunStatus.TIMEOUT, "died": RunStatus.CRASHED, "protocol": RunStatus.CRASHED}


def interpret(result: ExecResult, spec: CodeSpec, nonce: str) -> CodeRun:
    """Turn the sandbox's result into a `CodeRun`; only a line carrying this job's nonce is believed."""
    report = read_record(result.stdout, RESULT_MARK, nonce=nonce)
    if report is None:
        run = _no_report(result)
    elif report.get("internal"):
        raise VerifierError(f"the grading harness failed: {report['internal']}")
    else:
        results = _results(spec, report.get("cases", []))
        stderr = _tail(result.stderr)
        load = report.get("load")
        if "gone" in report and load is None:
            run = CodeRun(_GONE_STATUS[report["gone"]], (), report["gone_message"], stderr)
        elif load in _LOAD_STATUS:
            run = CodeRun(_LOAD_STATUS[load], (), str(report.get("load_error", "")), stderr)
        elif "gone" in report:
            run = CodeRun(_GONE_STATUS[report["gone"]], results, report["gone_message"], stderr)
        elif len(results) != len(spec.cases):
            run = CodeRun(RunStatus.CRASHED, results, "the test run ended before all tests ran", stderr)
        else:
            run = CodeRun(RunStatus.OK, results, "", stderr)
        if run.status is RunStatus.TIMEOUT and result.oom:
            run = CodeRun(RunStatus.CRASHED, results, "the program ran out of memory", stderr)
    return CodeRun(
        run.status, run.results, run.message, run.stderr_tail, duration_s=result.wall_s, exec_result=result
    )


async def run_code(
    source: str,
    spec: CodeSpec,
    *,
    sandbox: Sandbox | None = None,
    limits: Limits | None = None,
    python: str = "python3",
) -> CodeRun:
    """Run `source` against `spec` in the sandbox. Raises only for infrastructure failures."""
    job, nonce = build_job(source, spec, limits or Limits(), python)
    return interpret(await run_job(job, sandbox), spec, nonce)
