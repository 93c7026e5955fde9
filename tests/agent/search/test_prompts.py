"""The prompt: the task's instructions, then each chosen parent with its search verifier's feedback, numbered
and clipped; nothing of a held-out verdict."""

from __future__ import annotations

import random
import re

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Verdict, VerdictStatus
from agent.search.archive import Archive
from agent.search.prompts import MAX_CONTENT_CHARS, MAX_FEEDBACK_CHARS, build_messages, describe_attempt
from agent.search.strategies import Refine
from tests.support.records import recorded

SYSTEM = "You write Python."
INSTRUCTIONS = "  Write `add(a, b)` returning the sum.\n"


def user_prompt(parents: list[RecordedHypothesis]) -> str:
    system, user = build_messages(SYSTEM, INSTRUCTIONS, parents)
    assert (system.role, system.content) == ("system", SYSTEM)
    assert user.role == "user"
    return user.content


def test_without_parents_the_prompt_is_the_instructions_alone() -> None:
    assert user_prompt([]) == INSTRUCTIONS.strip()


def test_attempts_are_numbered_in_the_order_given_with_status_score_and_feedback() -> None:
    best = recorded("def add(a, b):\n    return a + b\n", 1.0, iteration=3, status=VerdictStatus.OK)
    partial = recorded("def add(a, b):\n    return a\n", 0.5, iteration=2, feedback="  add(1, 2): got 1  \n")
    crash = recorded("def add(a, b):\n    1 / 0\n", None, iteration=1)
    prompt = user_prompt([best, partial, crash])

    assert prompt.startswith(INSTRUCTIONS.strip() + "\n\n## Earlier attempts\n")
    assert prompt.endswith("Now give your improved solution, in the required format.")
    headers = re.findall(r"^### Attempt .*$", prompt, flags=re.MULTILINE)
    assert headers == [
        "### Attempt 1 (iteration 3): status ok, score 1",
        "### Attempt 2 (iteration 2): status fail, score 0.5",
        "### Attempt 3 (iteration 1): status error, score none",
    ]
    assert describe_attempt(2, partial) in prompt
    assert describe_attempt(2, partial).endswith("Verifier feedback:\nadd(1, 2): got 1")  # stripped
    assert describe_attempt(3, crash).endswith("Verifier feedback:\n(none)")
    assert "```\ndef add(a, b):\n    return a\n```" in prompt  # the content, without its last newline
    positions = [prompt.index(e.hypothesis.content.rstrip("\n")) for e in (best, partial, crash)]
    assert positions == sorted(positions)


def test_long_content_is_clipped_to_its_head_and_tail_with_the_cut_marked() -> None:
    body = "H" * MAX_CONTENT_CHARS + "MIDDLE" + "T" * MAX_CONTENT_CHARS
    attempt = describe_attempt(1, recorded(body, 0.2))
    cut = len(body) - MAX_CONTENT_CHARS
    half = MAX_CONTENT_CHARS // 2
    assert f"```\n{'H' * half}\n... [{cut} characters cut] ...\n{'T' * half}\n```" in attempt
    assert "MIDDLE" not in attempt


def test_long_feedback_is_clipped_with_the_cut_marked() -> None:
    feedback = "first line\n" + "x" * (2 * MAX_FEEDBACK_CHARS) + "\nlast line"
    attempt = describe_attempt(1, recorded("def f(): pass", 0.0, feedback=feedback))
    cut = len(feedback) - MAX_FEEDBACK_CHARS
    assert f"\n... [{cut} characters cut] ...\n" in attempt
    shown = attempt.split("Verifier feedback:\n", 1)[1]
    assert shown.startswith("first line\n") and shown.endswith("\nlast line")
    assert len(shown) < MAX_FEEDBACK_CHARS + 100


def test_text_at_the_limits_is_not_clipped() -> None:
    content = "c" * MAX_CONTENT_CHARS
    feedback = "f" * MAX_FEEDBACK_CHARS
    attempt = describe_attempt(1, recorded(content, 0.3, feedback=feedback))
    assert "characters cut" not in attempt
    assert content in attempt and attempt.endswith(feedback)


def test_held_out_feedback_never_reaches_the_prompt() -> None:
    # A search records each hypothesis with its search verdict; the held-out verdict is kept apart, so the
    # archive, the strategy and the prompt built from them only ever see the search verifier's feedback.
    searched = recorded("def add(a, b):\n    return a + b\n", 1.0, status=VerdictStatus.OK, feedback="3/3 ok")
    held_out = Verdict(status=VerdictStatus.FAIL, score=0.25, feedback="HELD-OUT-SECRET: add(10**20, 1)")
    archive = Archive([searched])
    parents = Refine().select_parents(archive, 2, random.Random(0))
    assert parents == [searched]
    prompt = user_prompt(parents)
    assert "3/3 ok" in prompt and "score 1" in prompt
    assert held_out.feedback not in prompt and "HELD-OUT" not in prompt and "0.25" not in prompt


def test_an_answer_stored_with_its_own_fence_is_not_fenced_again() -> None:
    raw = "```python\ndef add(a, b):\n    return a +\n```"  # did not parse: stored as the model wrote it
    unparsed = recorded(raw, None, iteration=1, status=VerdictStatus.INVALID, feedback="SyntaxError (line 2)")
    parsed = recorded("def add(a, b):\n    return a\n", 0.5, iteration=2)
    prompt = user_prompt([unparsed, parsed])
    assert "```\n```python" not in prompt  # no block opened inside another
    assert prompt.count("```python") == 1 and prompt.count("```") == 4  # its own pair, and the parsed one's
    assert "```\ndef add(a, b):\n    return a\n```" in prompt
