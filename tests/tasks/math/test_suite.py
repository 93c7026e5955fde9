"""The generated math suites: size, stable ids, and that every stored answer is right and checks as right."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sympy as sp

from agent.kernel.plugins import list_tasks, load_suite
from agent.kernel.task import Task
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from tasks.math.common import MathProblem
from tasks.math.suites import FAMILIES, problems
from tests.support.cli import assay
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer
from verifiers.sympy.verifier import SympyVerifier


def _all_tasks() -> list[Task]:
    return [t for family in FAMILIES for t in load_suite(f"math/{family}").problems]


def test_registered_suites_have_easy_and_hard_problems() -> None:
    names = {entry.name for entry in list_tasks()}
    assert {f"math/{family}" for family in FAMILIES} <= names
    total = 0
    for family in FAMILIES:
        suite = load_suite(f"math/{family}")
        ids = [t.problem_id for t in suite.problems]
        assert len(ids) == len(set(ids))
        assert {i.split("-")[0] for i in ids} == {"easy", "hard"}
        assert sum(i.startswith("hard-") for i in ids) >= 10
        assert [t.problem_id for t in suite.select(None)] == ids[:3]
        assert suite.select("hard-3")[0].problem_id == "hard-3"
        assert suite.description
        total += len(ids)
    assert len(FAMILIES) >= 4
    assert total >= 100


def test_tasks_ask_for_a_boxed_answer_and_wire_both_verifiers() -> None:
    for task in _all_tasks():
        assert "\\boxed{" in task.instructions
        assert isinstance(task.verifier, SympyVerifier) and task.verifier.mode == "search"
        assert isinstance(task.held_out, SympyVerifier) and task.held_out.mode == "exact"
        assert task.parse("so the answer is \\boxed{\\frac{1}{2} x}") == "\\frac{1}{2} x"
    keys = [t.key for t in _all_tasks()]
    assert len(keys) == len(set(keys))


def test_generation_is_seeded_and_stable() -> None:
    for family in FAMILIES:
        first, second = problems(family), problems(family)
        assert [(p.question, p.answer) for p in first] == [(p.question, p.answer) for p in second]
        assert len({p.question for p in first}) >= 15  # the draws really vary


async def _verify_all(pairs: list[tuple[SympyVerifier, str]]) -> list[Verdict]:
    return await asyncio.gather(*[v.verify(Hypothesis.create(answer)) for v, answer in pairs])


async def test_every_stored_answer_passes_its_search_verifier() -> None:
    tasks = _all_tasks()
    answers = {(p.family, p.problem_id): p.answer for f in FAMILIES for p in problems(f)}
    pairs = [(t.verifier, answers[(t.name.split("/")[1], t.problem_id)]) for t in tasks]
    verdicts = await _verify_all(pairs)  # type: ignore[arg-type]
    bad = [
        f"{t.key}: {v.status.value} {v.feedback}"
        for t, v in zip(tasks, verdicts, strict=True)
        if not v.passed
    ]
    assert not bad, "\n".join(bad)
    assert all(v.score == 1.0 for v in verdicts)


async def test_stored_answers_pass_the_exact_check() -> None:
    # one easy and one hard problem per family keeps this quick; the search check above covers them all
    tasks = [t for t in _all_tasks() if t.problem_id in ("easy-0", "hard-1")]
    answers = {(p.family, p.problem_id): p.answer for f in FAMILIES for p in problems(f)}
    pairs = [(t.held_out, answers[(t.name.split("/")[1], t.problem_id)]) for t in tasks]
    verdicts = await _verify_all(pairs)  # type: ignore[arg-type]
    bad = [
        f"{t.key}: {v.status.value} {v.feedback}"
        for t, v in zip(tasks, verdicts, strict=True)
        if not v.passed
    ]
    assert not bad, "\n".join(bad)


def _wrong(problem: MathProblem) -> str:
    if problem.kind == "roots":
        return ", ".join(problem.data["roots"][1:])  # one root missing
    return f"{problem.answer} + 1 + x"  # off by a non-constant for every other kind


async def test_a_wrong_answer_fails() -> None:
    chosen = [p for f in FAMILIES for p in problems(f)[::3]]
    verifiers = [SympyVerifier(p.kind, p.data) for p in chosen]
    verdicts = await _verify_all([(v, _wrong(p)) for v, p in zip(verifiers, chosen, strict=True)])
    for problem, verdict in zip(chosen, verdicts, strict=True):
        assert verdict.status is VerdictStatus.FAIL, (problem.family, problem.problem_id, verdict)
        assert verdict.score is not None and verdict.score < 1.0


def test_limit_and_series_answers_agree_with_sympy() -> None:
    # trusted, generated data: SymPy's own limit and series run in-process (about 1.5 s of CPU in all)
    x = sp.Symbol("x")
    for p in problems("limit"):
        theirs = sp.limit(sp.sympify(p.data["function"]), x, sp.sympify(p.data["point"]), "+")
        ours = sp.sympify(p.answer)
        assert ours == theirs or sp.simplify(ours - theirs) == 0, (p.problem_id, p.answer, theirs)
    for p in problems("series"):
        theirs = sp.series(sp.sympify(p.data["function"]), x, 0, p.data["degree"] + 1).removeO()
        assert sp.expand(sp.sympify(p.answer) - theirs) == 0, (p.problem_id, p.answer, theirs)


@pytest.mark.parametrize("problem", problems("roots"), ids=lambda p: p.problem_id)
def test_stored_roots_are_exactly_the_real_roots(problem: MathProblem) -> None:
    x = sp.Symbol("x")
    actual = sorted(float(r) for r in sp.Poly(sp.sympify(problem.data["equation"]), x).real_roots())
    stored = sorted(float(sp.sympify(r)) for r in problem.data["roots"])
    assert len(set(actual)) == len(stored)
    assert sorted(set(actual)) == pytest.approx(stored)


def test_cli_run_feeds_the_verifier_feedback_back_to_the_model(tmp_path: Path) -> None:
    """End to end: `assay run math/antiderivative` with a real HTTP model server and real child checks."""
    problem = problems("antiderivative")[0]

    def model(request: RecordedRequest) -> str:
        if "d/dx of your answer" in request.prompt_text:  # the search verifier's explanation came back
            return f"Fixed it: \\boxed{{{problem.answer} + 4}}"
        return "Surely: \\boxed{x**2}"

    with ScriptedLLMServer(model) as server:
        proc = assay(
            "run", "math/antiderivative", "--problems", "easy-0", "--iterations", "3", "--target", "1",
            "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "runs.db"), "--json",
        )  # fmt: skip
        prompts = [r.prompt_text for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["problems"][0]
    assert result["problem"] == "math/antiderivative#easy-0"
    assert result["stop_reason"] == "target_reached"
    assert result["best_status"] == "ok" and result["held_out"]["status"] == "ok"
    assert any("but the integrand is" in p for p in prompts[1:])
