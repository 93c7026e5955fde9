"""SympyVerifier end to end: real child processes, real SymPy, real LaTeX parser."""

from __future__ import annotations

import asyncio
import time
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import pytest

from agent.kernel.errors import ConfigError
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from agent.kernel.verifier import Verifier
from verifiers.sympy.verifier import SympyVerifier

OK, FAIL, INVALID = VerdictStatus.OK, VerdictStatus.FAIL, VerdictStatus.INVALID
X = {"variables": ["x"]}
XY = {"variables": ["x", "y"]}
NUMBER: dict[str, Any] = {"variables": []}

# (expected, answer, extra data, status in search mode)
EQUIVALENCE: list[tuple[str, str, dict[str, Any], VerdictStatus]] = [
    ("x**2 + 2*x + 1", "(x+1)**2", X, OK),
    ("sin(x)**2", "1 - cos(x)**2", X, OK),
    ("sin(2*x)", "2*sin(x)*cos(x)", X, OK),
    ("cos(2*x)", "cos(x)**2 - sin(x)**2", X, OK),
    ("tan(x)", "sin(x)/cos(x)", X, OK),
    ("1/cos(x)**2", "1 + tan(x)**2", X, OK),
    ("sin(x)", "cos(x - pi/2)", X, OK),
    ("cosh(x)", "(exp(x) + exp(-x))/2", X, OK),
    ("atan(x)", "asin(x/sqrt(1 + x**2))", X, OK),
    ("exp(x + y)", "exp(x)*exp(y)", XY, OK),
    ("x*y", "y*x", XY, OK),
    ("(x**2 - 1)/(x - 1)", "x + 1", X, OK),
    ("1/(x*(x + 1))", "1/x - 1/(x + 1)", X, OK),
    ("exp(2*x)", "exp(x)**2", X, OK),
    ("(x + 1)**3", "x**3 + 3*x**2 + 3*x + 1", X, OK),
    ("sqrt(x)", "x^(1/2)", X, OK),
    ("2*x", "2x", X, OK),
    ("Abs(x)", "sqrt(x**2)", X, OK),
    ("log(2*x)", "log(2) + log(x)", X, OK),
    ("exp(x)", "e^x", X, OK),
    # traps: equal only on part of the domain
    ("x", "sqrt(x**2)", X, FAIL),
    ("log(x*y)", "log(x) + log(y)", XY, FAIL),
    ("2*log(x)", "log(x**2)", X, FAIL),
    ("x**2", "x**3", X, FAIL),
    ("sin(x)", "sin(-x)", X, FAIL),
    ("(x + 1)**3", "x**3 + 3*x**2 + 3*x", X, FAIL),
    ("x", "x + C", X, FAIL),
    # decimals: close enough passes the search check
    ("1/3", "0.333333333", NUMBER, OK),
    ("1/3", "0.33", NUMBER, FAIL),
    ("pi", "3.14159265", NUMBER, OK),
    ("sqrt(2)", "1.41421356237", NUMBER, OK),
    ("x/3", "0.3333333333*x", X, OK),
    ("exp(3)", "e^3", NUMBER, OK),
    ("log(2)", "ln(2)", NUMBER, OK),
    ("oo", "oo", NUMBER, OK),
    ("oo", "\\infty", NUMBER, OK),
    ("oo", "-oo", NUMBER, FAIL),
    ("0", "1/x", NUMBER, FAIL),
    # LaTeX answers
    ("x**3/3", "\\frac{x^3}{3}", X, OK),
    ("2*x*cos(x**2)", "2x\\cos(x^{2})", X, OK),
    ("sin(x)/x", "\\frac{\\sin x}{x}", X, OK),
    ("sqrt(x + 1)", "\\sqrt{x+1}", X, OK),
    ("exp(-x)*x", "x e^{-x}", X, OK),
    ("x**2", "\\frac{x^3}{3}", X, FAIL),
    # Taylor polynomials may carry their O() term
    ("1 + x + x**2/2", "1 + x + x^2/2 + O(x^3)", {**X, "allow_order": True}, OK),
    # unparseable
    ("x", "sin(x", X, INVALID),
    ("x", "Integral(1, x)", X, INVALID),
]

# (integrand, answer, status)
ANTIDERIVATIVES: list[tuple[str, str, VerdictStatus]] = [
    ("2*x", "x**2", OK),
    ("2*x", "x**2 + 5", OK),
    ("2*x", "x**2 + C", OK),
    ("2*x", "x^2 + C_1", OK),
    ("1/x", "log(x)", OK),
    ("1/x", "log(Abs(x))", OK),
    ("1/x", "\\ln|x| + C", OK),
    ("x*exp(x)", "(x - 1)*exp(x)", OK),
    ("sin(x)*cos(x)", "sin(x)**2/2", OK),
    ("sin(x)*cos(x)", "-cos(x)**2/2", OK),
    ("sin(x)*cos(x)", "-cos(2*x)/4 + 7", OK),
    ("cos(x)", "-sin(x)", FAIL),
    ("2*x", "x**2*C", FAIL),
    ("2*x", "\\int 2x\\,dx", INVALID),
]


async def _verify(verifier: SympyVerifier, answer: str) -> Verdict:
    return await verifier.verify(Hypothesis.create(answer))


async def test_equivalence_table() -> None:
    verifiers = [
        SympyVerifier("equivalent", {"expected": expected, **extra}) for expected, _, extra, _ in EQUIVALENCE
    ]
    verdicts = await asyncio.gather(
        *[_verify(v, row[1]) for v, row in zip(verifiers, EQUIVALENCE, strict=True)]
    )
    wrong = [
        f"{expected!r} vs {answer!r}: expected {status.value}, got {v.status.value} ({v.feedback})"
        for (expected, answer, _, status), v in zip(EQUIVALENCE, verdicts, strict=True)
        if v.status is not status
    ]
    assert not wrong, "\n".join(wrong)
    for (_, _, _, status), verdict in zip(EQUIVALENCE, verdicts, strict=True):
        assert verdict.score == {OK: 1.0, FAIL: 0.0, INVALID: None}[status]


async def test_antiderivative_table() -> None:
    verdicts = await asyncio.gather(
        *[_verify(SympyVerifier("antiderivative", {"integrand": f}), a) for f, a, _ in ANTIDERIVATIVES]
    )
    wrong = [
        f"{f!r} / {a!r}: expected {status.value}, got {v.status.value} ({v.feedback})"
        for (f, a, status), v in zip(ANTIDERIVATIVES, verdicts, strict=True)
        if v.status is not status
    ]
    assert not wrong, "\n".join(wrong)


async def test_search_feedback_explains_the_difference() -> None:
    verdict = await _verify(SympyVerifier("antiderivative", {"integrand": "2*x*cos(x**2)"}), "cos(x**2)")
    assert verdict.status is FAIL
    assert "-2*x*sin(x**2)" in verdict.feedback
    assert "2*x*cos(x**2)" in verdict.feedback
    assert "x=0.7" in verdict.feedback
    trap = await _verify(SympyVerifier("equivalent", {"expected": "x"}), "sqrt(x**2)")
    assert "x=-1.3" in trap.feedback  # it names the negative point where they part


async def test_exact_mode_demands_exact_values() -> None:
    def exact(expected: str, **extra: Any) -> SympyVerifier:
        return SympyVerifier("equivalent", {"expected": expected, **extra}, mode="exact")

    cases = [
        (exact("1/3", variables=[]), "0.333333333", FAIL),
        (exact("sqrt(2)", variables=[]), "1.41421356237", FAIL),
        (exact("1/2", variables=[]), "0.5", OK),
        (exact("sin(x)**2"), "1 - cos(x)**2", OK),
        (exact("x"), "sqrt(x**2)", FAIL),
        (exact("(x + 1)**2"), "x^2 + 2x + 1", OK),
    ]
    verdicts = await asyncio.gather(*[_verify(v, a) for v, a, _ in cases])
    assert [v.status for v in verdicts] == [status for _, _, status in cases]
    assert verdicts[3].metrics["proof"] == 1.0  # the identity was shown symbolically
    search = await _verify(SympyVerifier("equivalent", {"expected": "1/3", "variables": []}), "0.333333333")
    assert search.status is OK  # while the search verifier accepts the close decimal


def _forkserver_children() -> set[int]:
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{server}\n" in status:
                children.add(int(entry.name))
    return children


@pytest.mark.parametrize("answer", ["factorial(10**9)", "9**9**9", "x + 2**(2**34)"])
async def test_a_hang_is_a_timeout_verdict_and_leaves_no_process(answer: str) -> None:
    verifier = SympyVerifier("equivalent", {"expected": "x"}, mode="exact", timeout_s=1.5)
    await _verify(verifier, "x")  # start the forkserver so its children can be listed
    before = _forkserver_children()
    start = time.monotonic()
    verdict = await _verify(verifier, answer)
    elapsed = time.monotonic() - start
    assert verdict.status in (VerdictStatus.TIMEOUT, VerdictStatus.ERROR), verdict
    if verdict.status is VerdictStatus.TIMEOUT:
        assert "timed out" in verdict.feedback
    else:
        assert "memory" in verdict.feedback
    assert verdict.score is None
    assert elapsed < 1.5 + 3
    assert _forkserver_children() <= before


async def test_factorial_hang_times_out() -> None:
    verdict = await _verify(SympyVerifier("equivalent", {"expected": "x"}, timeout_s=1.0), "factorial(10**9)")
    assert verdict.status is VerdictStatus.TIMEOUT
    assert verdict.score is None


async def test_malicious_answers_are_invalid_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    verifier = SympyVerifier("equivalent", {"expected": "x"})
    attempts = [
        f"__import__('os').system('touch {marker}')",
        f"().__class__.__base__.__subclasses__()[0]('touch {marker}')",
        f"(lambda: __import__('os').system('touch {marker}'))()",
        f"exec(\"import os; os.system('touch {marker}')\")",
        f"eval(\"__import__('os').system('touch {marker}')\")",
        f"x.__class__.__init__.__globals__['os'].system('touch {marker}')",
        f"getattr(__builtins__, 'exec')(\"open('{marker}', 'w')\")",
    ]
    verdicts = await asyncio.gather(*[_verify(verifier, a) for a in attempts])
    for answer, verdict in zip(attempts, verdicts, strict=True):
        assert verdict.status is INVALID, (answer, verdict)
        assert verdict.score is None
        assert "could not read your answer" in verdict.feedback
    latex = await _verify(verifier, f"\\text{{__import__('os').system('touch {marker}')}}")
    assert latex.status is FAIL  # a LaTeX text block is only a symbol name
    assert not marker.exists()


async def test_roots_partial_credit() -> None:
    verifier = SympyVerifier("roots", {"equation": "x**3 - 6*x**2 + 11*x - 6", "roots": ["1", "2", "3"]})
    cases = [
        ("1, 2, 3", OK, 1.0),
        ("\\{3, 1, 2\\}", OK, 1.0),
        ("x = 1, x = 2, x = 3", OK, 1.0),
        ("1, 1, 2, 3", OK, 1.0),
        ("1, 2", FAIL, 2 / 3),
        ("1, 2, 4", FAIL, 1 / 3),
        ("5, 6", FAIL, 0.0),
        ("1.0000000001, 2, 3", OK, 1.0),
        ("x**2", INVALID, None),
    ]
    verdicts = await asyncio.gather(*[_verify(verifier, a) for a, _, _ in cases])
    for (answer, status, score), verdict in zip(cases, verdicts, strict=True):
        assert verdict.status is status, (answer, verdict)
        assert verdict.score == pytest.approx(score) if score is not None else verdict.score is None
    assert "4 is not a root" in verdicts[5].feedback
    assert "left-hand side equals 6" in verdicts[5].feedback
    assert "1 real root(s) are missing" in verdicts[4].feedback

    irrational = SympyVerifier(
        "roots", {"equation": "(x - 1)*(x**2 - 2)", "roots": ["1", "sqrt(2)", "-sqrt(2)"]}
    )
    assert (await _verify(irrational, "1, \\pm\\sqrt{2}")).status is OK
    assert (await _verify(irrational, "1, 1.41421356237, -1.41421356237")).status is OK
    exact = SympyVerifier(
        "roots", {"equation": "(x - 1)*(x**2 - 2)", "roots": ["1", "sqrt(2)", "-sqrt(2)"]}, mode="exact"
    )
    decimal = await _verify(exact, "1, 1.41421356237, -sqrt(2)")
    assert decimal.status is FAIL and decimal.score == pytest.approx(1 / 3)

    complex_roots = SympyVerifier("roots", {"equation": "(x - 1)*(x**2 + 1)", "roots": ["1"]})
    verdict = await _verify(complex_roots, "1, I, -I")
    assert verdict.status is FAIL and verdict.score == 0.0
    assert "not real" in verdict.feedback


async def test_ode_check() -> None:
    data = {"lhs": "ypp + y", "rhs": "0", "conditions": [[0, 0, "1"], [1, 0, "0"]], "display_lhs": "y'' + y"}
    search = SympyVerifier("ode", data)
    exact = SympyVerifier("ode", data, mode="exact")
    answers = ["cos(x)", "y(x) = \\cos(x)", "sin(x)", "cos(x) + C1*sin(x)", "exp(x)", "cos(x) + 1e-12"]
    verdicts = await asyncio.gather(*[_verify(search, a) for a in answers])
    assert [v.status for v in verdicts] == [OK, OK, FAIL, FAIL, FAIL, OK]
    assert "y(0) should be 1" in verdicts[2].feedback
    assert "C1" in verdicts[3].feedback
    assert "does not satisfy the ODE" in verdicts[4].feedback
    held_out = await asyncio.gather(*[_verify(exact, a) for a in ("cos(x)", "cos(x) + 1e-12")])
    assert [v.status for v in held_out] == [OK, FAIL]

    forced = {"lhs": "yp + 2*y", "rhs": "exp(x)", "conditions": [[0, 0, "1"]]}
    assert (await _verify(SympyVerifier("ode", forced), "exp(x)/3 + 2*exp(-2*x)/3")).status is OK


def test_verifier_identity_and_configuration() -> None:
    a = SympyVerifier("equivalent", {"expected": "x"})
    b = SympyVerifier("equivalent", {"expected": "x + 1"})
    held_out = SympyVerifier("equivalent", {"expected": "x"}, mode="exact")
    assert isinstance(a, Verifier)
    assert (a.name, a.version) == (SympyVerifier("equivalent", {"expected": "x"}).name, a.version)
    assert a.version != b.version  # different problems never share a cached verdict
    assert a.name != held_out.name
    with pytest.raises(ConfigError):
        SympyVerifier("integral", {"expected": "x"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SympyVerifier("roots", {"equation": "x"})
    with pytest.raises(ConfigError):
        SympyVerifier("equivalent", {"expected": "x"}, mode="lenient")  # type: ignore[arg-type]


async def test_an_overlong_answer_is_invalid_without_a_child() -> None:
    verdict = await _verify(SympyVerifier("equivalent", {"expected": "x"}), "x+" * 5000 + "x")
    assert verdict.status is INVALID
    assert "too long" in verdict.feedback
