"""Repeated errors: the note that replaces a traceback the model has already seen, on constructed records
and end to end (real HTTP model server, real SQLite store, a verifier that runs the candidate in-process
and reports its traceback as a verifier would)."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from agent.kernel.identity import fingerprint
from agent.kernel.records import RecordedHypothesis
from agent.kernel.task import Task
from agent.kernel.types import Budget, Hypothesis, Verdict, VerdictStatus
from agent.search.repeats import repeat_note, same_error, signature
from agent.store.sqlite import Store
from tests.agent.search.test_population import seed_of
from tests.agent.search.test_repair import REPAIR_HEADING, search
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer


def failed(content: str, feedback: str, iteration: int = 1, status: VerdictStatus = VerdictStatus.ERROR):
    hypothesis = Hypothesis.create(content, iteration=iteration)
    return RecordedHypothesis(0, hypothesis, Verdict(status=status, feedback=feedback))


def trace(path: str, number: int, code: str, error: str) -> str:
    frame = f'  File "{path}", line {number}, in <module>\n    {code}\n'
    return f"Traceback (most recent call last):\n{frame}{error}\n"


def test_the_same_error_up_to_numbers_and_paths_is_recognised() -> None:
    a = failed("x = arr[7]\n", trace("/tmp/job-1/cand.py", 3, "x = arr[7]", "IndexError: index 7 out of 5"))
    b = failed("y = arr[9]\n", trace("/tmp/job-2/cand.py", 4, "y = arr[9]", "IndexError: index 9 out of 5"))
    c = failed(
        "y = 1 / 0\n", trace("/tmp/job-3/cand.py", 4, "y = 1 / 0", "ZeroDivisionError: division by zero")
    )
    sa, sb, sc = signature(a), signature(b), signature(c)
    assert sa is not None and sb is not None and sc is not None
    assert same_error(sa, sb) and not same_error(sa, sc)
    assert sa.line == "x = arr[7]"
    # the same failing line with another message is the same mistake too
    d = failed("y = 1 / 0\n", trace("/w/c.py", 2, "y = 1 / 0", "TypeError: unsupported operand"))
    sd = signature(d)
    assert sd is not None and same_error(sc, sd)


def test_a_new_error_gets_no_note_and_a_repeated_one_a_short_note_with_line_and_fix() -> None:
    content = "import numpy as np\nr = torch.tensor(1)\n"
    first = failed(content, "line 2: name 'torch' is not defined")  # a pre-check's one-liner
    again = failed(content + "# again\n", "line 2: name 'torch' is not defined", iteration=2)
    later = failed(content + "# later\n", "line 2: name 'torch' is not defined", iteration=3)
    assert repeat_note(first, [first, again, later]) is None  # nothing earlier failed so
    note = repeat_note(later, [first, again, later])
    assert note is not None and note.startswith("This error repeated in 2 earlier attempts: ")
    assert "The offending line: `r = torch.tensor(1)`" in note
    assert "define `torch` (or import it)" in note
    assert len(note.splitlines()) == 3
    scored = RecordedHypothesis(
        0, Hypothesis.create("r = 1\n"), Verdict(status=VerdictStatus.FAIL, score=0.1)
    )
    assert signature(scored) is None and repeat_note(scored, [first, scored]) is None


def test_a_failed_program_returned_unchanged_is_said_to_be_the_same() -> None:
    content = "def compute_reward(o, a, n, d):\n    if d:\n        return 1.0, {}\n"
    feedback = trace("candidate.py", 2, "if d:", "ValueError: The truth value of an array is ambiguous.")
    first, again = failed(content, feedback, 1), failed(content, feedback, 2)
    assert first.hypothesis.id == again.hypothesis.id  # the same program: its id is its content's
    assert repeat_note(first, [first, again]) is None
    note = repeat_note(again, [first, again])
    assert note is not None and note.startswith("This error repeated in 1 earlier attempt: ")
    assert "an earlier attempt returned unchanged" in note
    edited = failed(content + "# edited\n", feedback, 2)
    note = repeat_note(edited, [first, edited])
    assert note is not None and "unchanged" not in note


def test_a_repeated_timeout_and_an_array_if_get_their_fixes() -> None:
    slow = [failed(f"while True: x = {i}\n", "ran past 10 s", i, VerdictStatus.TIMEOUT) for i in (1, 2)]
    note = repeat_note(slow[1], slow)
    assert note is not None and "ran too long" in note
    message = "ValueError: The truth value of an array with more than one element is ambiguous."
    arrays = [
        failed(f"if v > {i}:\n    pass\n", trace("/c.py", 1, f"if v > {i}:", message), i) for i in (1, 2)
    ]
    note = repeat_note(arrays[1], arrays)
    assert note is not None and "np.where" in note and "`if v > 2:`" in note
    shapes = "ValueError: operands could not be broadcast together with shapes (2,) (16,) "
    rows = [
        failed(f"d = n[1] - o[{i}]\n", trace("/c.py", 3, "return d + o[:, 0], {}", shapes), i) for i in (1, 2)
    ]
    note = repeat_note(rows[1], rows)
    assert note is not None and "take columns (obs[:, 1]), not rows (obs[1])" in note


class ExecVerifier:
    """Runs `X = ...` programs in-process (test candidates only) and reports a crash's traceback."""

    name = "exec-x"
    version = fingerprint("exec-x")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        scope: dict[str, object] = {}
        try:
            exec(compile(hypothesis.content, "/tmp/sandbox/candidate.py", "exec"), scope)
        except Exception:
            return Verdict(status=VerdictStatus.ERROR, feedback=traceback.format_exc(limit=-1))
        return Verdict(status=VerdictStatus.FAIL, score=-abs(float(scope["X"]) - 37))  # type: ignore[arg-type]


def parse(text: str) -> str:
    match = re.search(r"```(?:python)?\n(.*?)```", text, re.S)
    return match.group(1) if match else text


async def test_refine_replaces_a_repeated_traceback_by_the_note(tmp_path: Path) -> None:
    task = Task("test/exec-x", "0", "Set X to the secret.", parse=parse, verifier=ExecVerifier())

    def model(request: RecordedRequest) -> str:
        iteration, _ = seed_of(request)
        return f"```python\nX = helper({iteration})\n```"  # the same mistake, with another number

    with Store(tmp_path / "runs.db") as store, ScriptedLLMServer(model) as server:
        await search(store, server, task, "refine", Budget(iterations=3), samples=1, top_k=1)
    prompts = {seed_of(r)[0]: r.prompt_text for r in server.requests}
    assert REPAIR_HEADING in prompts[2]  # iteration 1's crash: its repair, with the whole traceback
    assert "Traceback" in prompts[2] and "repeated" not in prompts[2]
    # iteration 3 shows the failed repair: the same NameError again, now said as such, traceback gone
    assert "This error repeated in 1 earlier attempt: NameError: name 'helper' is not defined" in prompts[3]
    assert "The offending line: `X = helper(2)`" in prompts[3]
    assert "Likely fix: define `helper`" in prompts[3] and "Traceback" not in prompts[3]
