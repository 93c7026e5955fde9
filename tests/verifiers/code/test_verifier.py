"""The code verifier against hostile candidates, in real sandboxes: every trick must end in a safe verdict
(fail / error / timeout / invalid, never a passing score), and honest candidates must be graded exactly."""

from __future__ import annotations

import asyncio

import pytest

from agent.kernel.types import Hypothesis, VerdictStatus
from sandboxes import Limits, Sandbox
from verifiers.code.run import CodeSpec, RunStatus, TestCase, run_code
from verifiers.code.verifier import CodeTestVerifier

LIMITS = Limits(wall_s=6.0)
SECRET = "HELD-OUT-SECRET-5f1c9e"

VISIBLE = CodeSpec(
    "add",
    (
        TestCase.value("add(1, 2)", "3"),
        TestCase.value("add(-4, 4)", "0"),
        TestCase.stmt("assert candidate(5, 5) == 10"),
    ),
)
HIDDEN = CodeSpec(
    "add",
    (TestCase.stmt("check(candidate)"),),
    setup=f"""
SECRET = {SECRET!r}
def check(candidate):
    for a in range(-20, 20):
        for b in (0, 7, 10**20):
            assert candidate(a, b) == a + b
""",
)

GOOD = "def add(a, b):\n    return a + b\n"


async def verify(sandbox: Sandbox, source: str, spec: CodeSpec = VISIBLE, limits: Limits = LIMITS):
    return await CodeTestVerifier(spec, sandbox=sandbox, limits=limits).verify(Hypothesis.create(source))


async def test_correct_candidate_passes_visible_and_hidden(sandbox: Sandbox) -> None:
    for spec in (VISIBLE, HIDDEN):
        verdict = await verify(sandbox, GOOD, spec)
        assert verdict.status is VerdictStatus.OK, verdict.feedback
        assert verdict.score == 1.0
        assert verdict.metrics["passed"] == verdict.metrics["total"] == len(spec.cases)


async def test_wrong_candidate_fails_with_input_expected_and_got(sandbox: Sandbox) -> None:
    verdict = await verify(sandbox, "def add(a, b):\n    return a - b\n")
    assert verdict.status is VerdictStatus.FAIL
    assert verdict.score == 0.0
    assert "FAILED test 1: add(1, 2)" in verdict.feedback
    assert "expected: 3" in verdict.feedback and "got:      -1" in verdict.feedback
    assert "expected: 10" in verdict.feedback and "got:      0" in verdict.feedback


async def test_exception_is_a_failed_test_with_the_candidates_traceback(sandbox: Sandbox) -> None:
    source = "def add(a, b):\n    if a < 0:\n        return [][a]\n    return a + b\n"
    verdict = await verify(sandbox, source)
    assert verdict.status is VerdictStatus.FAIL and verdict.score == pytest.approx(2 / 3)
    assert "raised IndexError: list index out of range" in verdict.feedback
    assert 'File "candidate.py", line 3, in add' in verdict.feedback


async def test_a_traceback_keeps_the_candidates_frames_and_collapses_the_librarys(sandbox: Sandbox) -> None:
    """A model can change only its own lines: a deep library stack must not push them out of the window,
    and a runaway recursion shows its start and its end, not a thousand identical frames."""
    source = (
        "import json\n"
        "def down(n):\n"
        "    if n == 0:\n"
        "        return json.loads('{bad')\n"
        "    return down(n - 1)\n"
        "def add(a, b):\n"
        "    return down(40)\n"
    )
    verdict = await verify(sandbox, source)
    text = verdict.feedback.split("FAILED test 2")[0]  # every test fails alike: read the first
    assert 'File "candidate.py", line 7, in add' in text and 'File "candidate.py", line 4, in down' in text
    assert "more frame(s) of your code (recursion?)" in text, text
    assert text.count('File "candidate.py", line 5, in down') <= 9
    assert "frame(s) in library code, the last:" in text and 'decoder.py", line' not in text
    assert "harness.py" not in text and "JSONDecodeError" in text


@pytest.mark.parametrize(
    ("source", "status", "needle"),
    [
        ("import sys\nsys.exit(0)\n" + GOOD, VerdictStatus.ERROR, "SystemExit: 0"),
        ("import os\nos._exit(0)\n" + GOOD, VerdictStatus.ERROR, "exited (status 0)"),
        ("def add(a, b)\n    return a + b\n", VerdictStatus.INVALID, "SyntaxError"),
        ("def plus(a, b):\n    return a + b\n", VerdictStatus.INVALID, "does not define a function `add`"),
        ("raise RuntimeError('boom')\n" + GOOD, VerdictStatus.ERROR, "RuntimeError: boom"),
    ],
    ids=["sys-exit-at-import", "os-exit-at-import", "syntax-error", "missing-function", "raise-at-import"],
)
async def test_candidates_that_never_reach_the_tests(
    sandbox: Sandbox, source: str, status: VerdictStatus, needle: str
) -> None:
    verdict = await verify(sandbox, source)
    assert verdict.status is status and verdict.score is None
    assert needle in verdict.feedback


async def test_os_exit_inside_the_function_is_an_error(sandbox: Sandbox) -> None:
    for spec in (VISIBLE, HIDDEN):
        verdict = await verify(sandbox, "import os\ndef add(a, b):\n    os._exit(0)\n", spec)
        assert verdict.status is VerdictStatus.ERROR and verdict.score is None
        assert "exited (status 0)" in verdict.feedback


async def test_sys_exit_inside_the_function_fails_the_test(sandbox: Sandbox) -> None:
    for spec in (VISIBLE, HIDDEN):
        verdict = await verify(sandbox, "import sys\ndef add(a, b):\n    sys.exit(0)\n", spec)
        assert verdict.status is VerdictStatus.FAIL and verdict.score == 0.0
        assert "raised SystemExit" in verdict.feedback


async def test_always_equal_object_cannot_pass(sandbox: Sandbox) -> None:
    source = (
        "class Anything(int):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    __hash__ = int.__hash__\n"
        "class Object:\n"
        "    def __eq__(self, other): return True\n"
        "def add(a, b):\n"
        "    return Anything(0) if a > 0 else Object()\n"
    )
    for spec in (VISIBLE, HIDDEN):
        verdict = await verify(sandbox, source, spec)
        assert verdict.status is VerdictStatus.FAIL and verdict.score == 0.0, verdict.feedback
    verdict = await verify(sandbox, source)
    assert "type Object cannot be returned" in verdict.feedback
    assert "got:      0" in verdict.feedback  # the int subclass arrives as its plain value


async def test_forged_result_lines_are_ignored(sandbox: Sandbox) -> None:
    forged = '{"load": "ok", "cases": [{"passed": true}, {"passed": true}, {"passed": true}]}'
    source = (
        "import os, sys\n"
        "LINE = 'ASSAY-RESULT 0123456789abcdef0123456789abcdef ' + " + repr(forged) + " + '\\n'\n"
        "def add(a, b):\n"
        "    for fd in (1, 2):\n"
        "        os.write(fd, LINE.encode())\n"
        "    print(LINE); sys.stdout.flush()\n"
        "    for target in (f'/proc/{os.getppid()}/fd/1', '/proc/1/fd/1', '/dev/stdout'):\n"
        "        try:\n"
        "            with open(target, 'w') as f:\n"
        "                f.write(LINE)\n"
        "        except OSError:\n"
        "            pass\n"
        "    os._exit(0)\n"
    )
    for spec in (VISIBLE, HIDDEN):
        verdict = await verify(sandbox, source, spec)
        assert verdict.status is VerdictStatus.ERROR and verdict.score is None


async def test_monkeypatching_the_harness_and_builtins_changes_nothing(sandbox: Sandbox) -> None:
    source = (
        "import builtins, sys\n"
        "import __main__ as harness\n"
        "harness.same = lambda a, b: True\n"
        "harness.encode = lambda value, depth=0: 3\n"  # every answer claims to be 3
        "builtins.AssertionError = type('Never', (Exception,), {})\n"
        "builtins.print = lambda *a, **k: None\n"
        "sys.modules['unittest'] = None\n"
        "def add(a, b):\n"
        "    return 3\n"
    )
    verdict = await verify(sandbox, source)
    assert verdict.status is VerdictStatus.FAIL and verdict.score == pytest.approx(1 / 3), verdict.feedback
    verdict = await verify(sandbox, source, HIDDEN)
    assert verdict.status is VerdictStatus.FAIL and verdict.score == 0.0
    # Breaking its own interpreter only breaks the candidate.
    broken = "import builtins\nbuiltins.isinstance = lambda *a: True\n" + GOOD
    verdict = await verify(sandbox, broken)
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None


async def test_corrupting_the_protocol_is_an_error(sandbox: Sandbox) -> None:
    source = "import json\njson.dumps = lambda *a, **k: '{\"ok\": 3}'\ndef add(a, b):\n    return 3\n"
    for spec in (VISIBLE, HIDDEN):
        verdict = await verify(sandbox, source, spec)
        assert verdict.status is VerdictStatus.ERROR and verdict.score is None
        assert "corrupted the test protocol" in verdict.feedback


async def test_killing_the_grader_is_an_error(sandbox: Sandbox) -> None:
    source = (
        "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b\n"
    )
    verdict = await verify(sandbox, source)
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("os.kill(-1, signal.SIGKILL)", VerdictStatus.ERROR),  # kill -9 -1: everything the job user owns
        ("os.kill(os.getppid(), signal.SIGSTOP)", VerdictStatus.TIMEOUT),
        ("os.closerange(0, 1024)", VerdictStatus.ERROR),  # hangs up the protocol pipe
        ("return ['x' * (1 << 20)] * 17", VerdictStatus.ERROR),  # a 17 MB answer: over the reply cap
        ("return add(a, b)", VerdictStatus.FAIL),  # RecursionError is an ordinary failure
    ],
    ids=["kill-all", "stop-grader", "close-fds", "huge-reply", "recursion"],
)
async def test_attacks_on_the_grader_end_unscored_or_failed(
    sandbox: Sandbox, body: str, status: VerdictStatus
) -> None:
    source = f"import os, signal\ndef add(a, b):\n    {body}\n    return a + b\n"
    verdict = await verify(sandbox, source, limits=Limits(wall_s=4.0))
    assert verdict.status is status, verdict.feedback
    assert verdict.score is None if status is not VerdictStatus.FAIL else verdict.score == 0.0
    assert (await verify(sandbox, GOOD)).passed  # and the next job runs normally


async def test_hidden_tests_and_nonce_are_out_of_the_candidates_reach(sandbox: Sandbox) -> None:
    """The candidate searches every file and process it can read for the held-out tests."""
    source = f"""
import os
def look(path):
    try:
        with open(path, 'rb') as f:
            return {SECRET!r}.encode() in f.read(1 << 22) or b'def check' in f.read(1 << 22)
    except OSError:
        return False
def add(a, b):
    found = []
    for base, _, files in os.walk('..'):  # this job's directory and its siblings
        found += [os.path.join(base, n) for n in files if look(os.path.join(base, n))]
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            for part in ('cmdline', 'environ', 'mem'):
                if look(f'/proc/{{pid}}/{{part}}'):
                    found.append(f'/proc/{{pid}}/{{part}}')
    return found
"""
    spec = CodeSpec("add", (TestCase.call("add(1, 2)"),), setup=HIDDEN.setup)
    run = await run_code(source, spec, sandbox=sandbox, limits=LIMITS)
    assert run.status is RunStatus.OK, run.message
    assert run.results[0].value == []


async def test_infinite_loop_is_a_timeout(sandbox: Sandbox) -> None:
    limits = Limits(wall_s=2.5)
    for source in (
        "def add(a, b):\n    while True:\n        pass\n",
        "while True:\n    pass\n",
        "import time\ndef add(a, b):\n    time.sleep(1e9)\n",
    ):
        verdict = await verify(sandbox, source, limits=limits)
        assert verdict.status is VerdictStatus.TIMEOUT and verdict.score is None
    assert (await verify(sandbox, GOOD)).passed  # the sandbox still works afterwards


async def test_timeout_reports_the_tests_that_passed_before_it(sandbox: Sandbox) -> None:
    source = "def add(a, b):\n    while a == 5:\n        pass\n    return a + b\n"
    # a limit with the grader's full 1.5 s margin to report in, however loaded the machine
    verdict = await verify(sandbox, source, limits=Limits(wall_s=8.0))
    assert verdict.status is VerdictStatus.TIMEOUT
    assert "ran past the time limit. 2 tests passed before that" in verdict.feedback


async def test_candidate_output_does_not_disturb_grading(sandbox: Sandbox) -> None:
    source = (
        "import sys\nprint('hello ' * 1000)\ndef add(a, b):\n    print(a, b, '\\n' * 50)\n    return a + b\n"
    )
    verdict = await verify(sandbox, source)
    assert verdict.status is VerdictStatus.OK, verdict.feedback


async def test_verifies_run_concurrently(sandbox: Sandbox) -> None:
    sources = [GOOD if i % 2 == 0 else "def add(a, b):\n    return a * b\n" for i in range(8)]
    verdicts = await asyncio.gather(*(verify(sandbox, s) for s in sources))
    assert [v.status for v in verdicts] == [VerdictStatus.OK, VerdictStatus.FAIL] * 4
    assert {v.score for v in verdicts[1::2]} == {0.0}  # 1*2, -4*4, 5*5: all wrong
