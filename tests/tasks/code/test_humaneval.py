"""`code/humaneval`: visible tests parsed from the docstrings, the official check held out, graded in real
sandboxes with the package's own canonical solutions (which must pass) and wrong ones (which must not)."""

from __future__ import annotations

import asyncio

import pytest

from agent.kernel.errors import ParseError
from agent.kernel.plugins import load_suite
from agent.kernel.types import Hypothesis, VerdictStatus
from sandboxes import ProcessSandboxConfig, Sandbox
from tasks.code.humaneval import ERRATA, canonical_program, make_task, problems, visible_cases
from verifiers.code.verifier import CodeTestVerifier


def shown(index: int) -> list[str]:
    return [c.shown for c in visible_cases(problems()[index])]


def test_doctest_examples_become_value_tests() -> None:
    cases = visible_cases(problems()[0])
    assert [(c.kind, c.code, c.expected) for c in cases] == [
        ("value", "has_close_elements([1.0, 2.0, 3.0], 0.5)", "False"),
        ("value", "has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)", "True"),
    ]


def test_prose_examples_are_parsed() -> None:
    assert shown(66)[:2] == ['digitSum("") == 0', 'digitSum("abAB") == 131']  # `digitSum("") => 0`


def test_problems_without_usable_examples_show_the_first_official_asserts() -> None:
    assert shown(80) == ["assert is_happy('a') == False, 'a'", "assert is_happy('aa') == False, 'aa'"]
    assert shown(38) == ["the official HumanEval check"]  # its check is only a loop over random strings


def test_dataset_errata_are_left_out() -> None:
    assert ("HumanEval/47", "median([-10, 4, 6, 1000, 10, 20])") in ERRATA
    assert shown(47) == ["median([3, 1, 2, 4, 5]) == 3"]


def test_every_problem_has_visible_tests() -> None:
    assert len(problems()) == 164
    assert all(visible_cases(p) for p in problems())


def test_suite_registration_and_prompt() -> None:
    suite = load_suite("code/humaneval")
    assert len(suite.problems) == 164
    assert [t.problem_id for t in suite.select(None)] == ["0", "1", "2"]
    assert [t.problem_id for t in suite.select("0-9")] == [str(i) for i in range(10)]
    task = suite.problems[0]
    assert problems()[0]["prompt"] in task.instructions and "```python" in task.instructions
    assert task.key == "code/humaneval#0" and task.info["task_id"] == "HumanEval/0"
    answer = "Sure.\n```python\n" + canonical_program(problems()[0]) + "```"
    assert task.parse(answer) == canonical_program(problems()[0]).strip("\n") + "\n"
    with pytest.raises(ParseError):
        task.parse("def has_close_elements(numbers, threshold): return False")


def with_sandbox(index: int, box: Sandbox) -> tuple[CodeTestVerifier, CodeTestVerifier]:
    task = make_task(index, problems()[index])
    visible, held_out = task.verifier, task.held_out
    assert isinstance(visible, CodeTestVerifier) and isinstance(held_out, CodeTestVerifier)
    for verifier in (visible, held_out):
        verifier.sandbox = box
    return visible, held_out


@pytest.mark.parametrize("index", [0, 32, 38, 47, 80, 148])
async def test_canonical_solution_passes_visible_and_held_out(sandbox: Sandbox, index: int) -> None:
    visible, held_out = with_sandbox(index, sandbox)
    hypothesis = Hypothesis.create(canonical_program(problems()[index]))
    for verifier in (visible, held_out):
        verdict = await verifier.verify(hypothesis)
        assert verdict.status is VerdictStatus.OK and verdict.score == 1.0, verdict.feedback


async def test_function_alone_without_the_prompts_imports_passes(sandbox: Sandbox) -> None:
    """Problem 32's `find_zero` calls the prompt's helper `poly`; the prelude provides it."""
    visible, held_out = with_sandbox(32, sandbox)
    body = problems()[32]["canonical_solution"]
    source = "def find_zero(xs: list):\n" + body
    for verifier in (visible, held_out):
        assert (await verifier.verify(Hypothesis.create(source))).passed


async def test_wrong_solution_fails_with_useful_feedback(sandbox: Sandbox) -> None:
    visible, held_out = with_sandbox(0, sandbox)
    wrong = Hypothesis.create("def has_close_elements(numbers, threshold):\n    return False\n")
    verdict = await visible.verify(wrong)
    assert verdict.status is VerdictStatus.FAIL and verdict.score == 0.5
    assert (
        "FAILED test 2: has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True" in verdict.feedback
    )
    assert "expected: True" in verdict.feedback and "got:      False" in verdict.feedback
    hidden = await held_out.verify(wrong)
    assert hidden.status is VerdictStatus.FAIL and hidden.score == 0.0
    assert "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True" in hidden.feedback


async def test_hardcoding_the_visible_examples_does_not_pass_the_held_out_check(sandbox: Sandbox) -> None:
    visible, held_out = with_sandbox(0, sandbox)
    cheat = Hypothesis.create(
        "def has_close_elements(numbers, threshold):\n    return numbers == [1.0, 2.8, 3.0, 4.0, 5.0, 2.0]\n"
    )
    assert (await visible.verify(cheat)).passed
    assert (await held_out.verify(cheat)).status is VerdictStatus.FAIL


@pytest.mark.slow
async def test_all_canonical_solutions_pass_their_visible_examples() -> None:
    """Guards the example parser and the errata: the reference solutions agree with every visible test."""
    box = ProcessSandboxConfig(pool_size=2).build()
    limit = asyncio.Semaphore(4)

    async def one(index: int) -> tuple[int, str]:
        async with limit:
            visible, _ = with_sandbox(index, box)
            verdict = await visible.verify(Hypothesis.create(canonical_program(problems()[index])))
            return index, verdict.feedback if not verdict.passed else ""

    try:
        failures = [r for r in await asyncio.gather(*(one(i) for i in range(164))) if r[1]]
    finally:
        await box.close()
    assert failures == []
