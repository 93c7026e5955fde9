"""The pieces of the code verifier that need no sandbox: the value codec that crosses the candidate/grader
boundary, the comparison used for example outputs, and which result line the host believes."""

from __future__ import annotations

import json
import math

import pytest

from agent.kernel.sandbox import ExecResult, Limits
from verifiers.code.run import CodeSpec, RunStatus, TestCase, build_job, interpret
from verifiers.code.shipped.harness import RESULT_MARK, decode, encode, same

SPEC = CodeSpec("f", (TestCase.value("f(1)", "2"),))


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(10**30), 1.5, "é\n", [1, [2]], (1, (2,)), {1: "a", (2, 3): [4]}, {1, 2}, frozenset({3}),
     b"\x00\xff", 1 + 2j, float("inf"), float("-inf")],
)  # fmt: skip
def test_plain_values_round_trip_with_their_types(value: object) -> None:
    back = decode(json.loads(json.dumps(encode(value))))
    assert back == value and type(back) is type(value)


def test_nan_round_trips() -> None:
    assert math.isnan(decode(json.loads(json.dumps(encode(float("nan"))))))


def test_objects_that_are_not_plain_values_are_refused() -> None:
    class AlwaysEqual:
        def __eq__(self, other: object) -> bool:
            return True

    for value in (AlwaysEqual(), [AlwaysEqual()], (x for x in ()), print):
        with pytest.raises(TypeError):
            encode(value)


def test_subclasses_arrive_as_their_plain_value() -> None:
    class Liar(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    decoded = decode(encode(Liar(7)))
    assert type(decoded) is int and decoded == 7 and decoded != 8


@pytest.mark.parametrize(
    "data", [{"tuple": [1], "extra": 1}, {"object": []}, {"float": "1e999"}, {"dict": [[1]]}, {"bytes": "zz"}]
)
def test_decode_rejects_malformed_forms(data: object) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_same_tolerates_printed_floats_but_not_type_changes() -> None:
    assert same(0.1 + 0.2, 0.3)
    assert same([1.0, (2, 3.0000000001)], [1, (2, 3)])
    assert not same([1, 2], (1, 2))
    assert not same(1.0, 1.01)
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert same(True, 1)  # Python equality, as the official checks use it


def _result(stdout: str, **kwargs: object) -> ExecResult:
    return ExecResult(exit_code=0, stdout=stdout, **kwargs)  # type: ignore[arg-type]


def test_only_the_line_with_this_jobs_nonce_is_believed() -> None:
    job, nonce = build_job("def f(x): return 2\n", SPEC, Limits(), "python3")
    assert nonce not in json.dumps(job.files) and nonce.encode() in (job.stdin or b"")
    passing = json.dumps({"load": "ok", "cases": [{"passed": True}]})
    forged = interpret(_result(f"{RESULT_MARK} {'0' * 32} {passing}\n"), SPEC, nonce)
    assert forged.status is RunStatus.CRASHED and forged.passed == 0
    genuine = interpret(_result(f"noise\n{RESULT_MARK} {nonce} {passing}\n"), SPEC, nonce)
    assert genuine.status is RunStatus.OK and genuine.passed == 1


def test_hidden_tests_travel_on_stdin_not_in_files() -> None:
    spec = CodeSpec(
        "f", (TestCase.stmt("check(candidate)"),), setup="def check(c):\n    assert c(1) == 'SECRET'\n"
    )
    job, _ = build_job("def f(x): return x\n", spec, Limits(), "python3")
    assert "SECRET" not in json.dumps(job.files)
    assert b"SECRET" in (job.stdin or b"")


def test_a_run_without_a_result_line_is_never_ok() -> None:
    _, nonce = build_job("", SPEC, Limits(), "python3")
    assert interpret(_result("", timed_out=True), SPEC, nonce).status is RunStatus.TIMEOUT
    assert interpret(_result("", oom=True), SPEC, nonce).status is RunStatus.CRASHED
    assert interpret(_result(""), SPEC, nonce).status is RunStatus.CRASHED
