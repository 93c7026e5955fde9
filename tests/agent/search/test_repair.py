"""Bounded repair of failed candidates: one repair prompt with the failure's feedback, never a second one,
and never in best-of-n. Real HTTP model server (OpenAI wire format), real SQLite store, the `X = <int>`
program task of test_population (its verifier errors on a program without an integer X)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agent.kernel.records import RecordedHypothesis
from agent.kernel.task import Task
from agent.kernel.types import Budget, Hypothesis, Verdict, VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.search.archive import Archive
from agent.search.breaker import INFRA_ARTIFACT
from agent.search.dedup import NEAR_DUPLICATE_OF
from agent.search.islands import ISLAND
from agent.search.loop import Search, SearchOutcome, SearchSettings
from agent.search.prompts import build_messages
from agent.search.repair import REPAIR_OF, repair_plans, repairable
from agent.search.strategies import STRATEGIES, make_strategy
from agent.store.sqlite import Store
from tests.agent.search.test_population import archive_of, program_task, seed_of
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer
from tests.support.records import recorded

#: a generous request timeout: on a loaded machine the SDK's first import alone may take seconds
PATIENT = ModelSettings(max_retries=0, timeout_s=120)
REPAIR_HEADING = "## This program failed; fix it"
BROKEN = "```python\nX = foo()\nY = 2\n```"  # not a literal: the verifier's ValueError, an error verdict


async def search(
    store: Store, server: ScriptedLLMServer, task: Task, strategy: str, budget: Budget, **settings: Any
) -> tuple[str, SearchOutcome]:
    run_id = store.create_run(task.name, "{}")
    store.start_search(run_id, task.key, 0)
    model = make_model(
        "openai/gpt-test", ModelSettings(**{**PATIENT.__dict__, "base_url": server.openai_base_url})
    )
    try:
        outcome = await Search(
            task=task, model=model, strategy=make_strategy(strategy), budget=budget, store=store,
            run_id=run_id, settings=SearchSettings(seed=7, **settings),
        ).run()  # fmt: skip
    finally:
        await model.close()
    return run_id, outcome


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "runs.db") as s:
        yield s


def by_iteration(store: Store, run_id: str, task: Task) -> dict[tuple[int, int], RecordedHypothesis]:
    return {(e.hypothesis.iteration, e.sample): e for e in store.hypotheses(run_id, task.key)}


def test_every_strategy_plans_and_a_parent_chooser_gets_the_plain_plan() -> None:
    archive = Archive([recorded("X = 3\n", -34.0), recorded("X = 30\n", -7.0, iteration=2)])
    for name in STRATEGIES:
        assert callable(make_strategy(name).plan)
    task = program_task()
    plan = make_strategy("refine").plan(archive, SearchSettings(top_k=2), 3, random.Random(0), task)
    assert plan.messages == build_messages(task.system_prompt, task.instructions, archive.top(2))
    assert plan.parent_ids == tuple(e.hypothesis.id for e in archive.top(2)) and plan.repairs == ()


def test_which_failures_are_repaired() -> None:
    def entry(status: VerdictStatus, **kw: Any) -> RecordedHypothesis:
        return recorded("X = y\n", None, status=status, **kw)

    assert repairable(entry(VerdictStatus.ERROR))
    assert repairable(entry(VerdictStatus.TIMEOUT))
    assert repairable(entry(VerdictStatus.INVALID))
    assert not repairable(recorded("X = 3\n", -34.0))  # scored: ranked, not repaired
    assert not repairable(entry(VerdictStatus.ERROR, meta={REPAIR_OF: "abc"}))  # a failed repair
    assert not repairable(entry(VerdictStatus.ERROR, meta={NEAR_DUPLICATE_OF: "abc"}))  # a copy
    assert not repairable(entry(VerdictStatus.ERROR, iteration=0, meta={"seed": True}))
    unjudged = Verdict(status=VerdictStatus.ERROR, artifacts={INFRA_ARTIFACT: "SandboxError: down"})
    infra = RecordedHypothesis(0, Hypothesis.create("X = 1\n", iteration=1), unjudged)
    assert not repairable(infra)  # never judged: verified again on resume, not repaired


def test_the_repair_prompt_ends_by_naming_the_line_that_failed() -> None:
    # a small model given the exact fix of a line in the feedback returned the same program (stop 30):
    # the last instruction, what it heeds, names the line again
    trace = 'Traceback (most recent call last):\n  File "candidate.py", line 2, in <module>\n    X = y\n'
    verdict = Verdict(status=VerdictStatus.ERROR, feedback=trace + "NameError: name 'y' is not defined")
    failed = RecordedHypothesis(0, Hypothesis.create("Y = 1\nX = y\n", iteration=1), verdict)
    (plan,) = repair_plans(
        [failed], history=[failed], system_prompt="s", instructions="i", samples=1, meta={}
    )
    last = plan.messages[-1].content.rstrip().rsplit("\n", 1)[-1]
    assert last == "Now give the fixed solution, in the required format. Change the line that failed, " + (
        "`X = y`, as the feedback says."
    )


async def test_refine_gives_a_failed_candidate_one_repair_prompt_with_its_feedback(store: Store) -> None:
    task = program_task()

    def model(request: RecordedRequest) -> str:
        if REPAIR_HEADING in request.prompt_text:
            return "```python\nX = 37\nY = 2\n```"
        return BROKEN if seed_of(request) == (1, 0) else "```python\nX = 5\nY = 2\n```"

    with ScriptedLLMServer(model) as server:
        run_id, _ = await search(store, server, task, "refine", Budget(iterations=2), samples=2)
    prompts = {seed_of(r): r.prompt_text for r in server.requests}
    assert REPAIR_HEADING not in prompts[(1, 0)] + prompts[(1, 1)]
    assert REPAIR_HEADING in prompts[(2, 0)] and REPAIR_HEADING not in prompts[(2, 1)]
    assert "X = foo()" in prompts[(2, 0)] and "no integer X: ValueError" in prompts[(2, 0)]
    assert prompts[(2, 0)].rstrip().endswith("in the required format.")  # the feedback names no line
    entries = by_iteration(store, run_id, task)
    failed, fixed = entries[(1, 0)], entries[(2, 0)]
    assert failed.verdict.status is VerdictStatus.ERROR
    assert fixed.hypothesis.meta[REPAIR_OF] == failed.hypothesis.id
    assert fixed.hypothesis.parent_ids == (failed.hypothesis.id,)
    assert fixed.verdict.status is VerdictStatus.OK
    assert REPAIR_OF not in entries[(2, 1)].hypothesis.meta  # the other sample went on with the search


@pytest.mark.parametrize("strategy", ["refine", "evolve"])
async def test_a_failed_repair_is_not_repaired_again_nor_a_program_repaired_once(
    store: Store, strategy: str
) -> None:
    task = program_task()
    answers = {1: "X = foo()", 2: "X = foo(2)", 3: "X = foo()", 4: "X = bar()", 5: "X = bar(5)"}

    def model(request: RecordedRequest) -> str:
        return f"```python\n{answers[seed_of(request)[0]]}\nY = 2\n```"

    with ScriptedLLMServer(model) as server:
        run_id, _ = await search(store, server, task, strategy, Budget(iterations=5), samples=1, islands=1)
    repairs = [REPAIR_HEADING in r.prompt_text for r in sorted(server.requests, key=seed_of)]
    # 2 repairs 1; 2's failure is not repaired; 3 proposed 1's program again, which had its repair
    assert repairs == [False, True, False, False, True]
    entries = by_iteration(store, run_id, task)
    assert entries[(2, 0)].hypothesis.meta[REPAIR_OF] == entries[(1, 0)].hypothesis.id
    assert entries[(3, 0)].hypothesis.id == entries[(1, 0)].hypothesis.id
    assert entries[(5, 0)].hypothesis.meta[REPAIR_OF] == entries[(4, 0)].hypothesis.id
    assert [REPAIR_OF in entries[(i, 0)].hypothesis.meta for i in (1, 3, 4)] == [False, False, False]


@pytest.mark.parametrize(("strategy", "repair"), [("best-of-n", True), ("refine", False), ("evolve", False)])
async def test_best_of_n_never_repairs_nor_a_search_told_not_to(
    store: Store, strategy: str, repair: bool
) -> None:
    task = program_task()
    with ScriptedLLMServer(lambda _r: BROKEN) as server:
        run_id, _ = await search(
            store, server, task, strategy, Budget(iterations=3), samples=2, islands=1, repair=repair
        )
    assert len(server.requests) == 6
    assert not any(REPAIR_HEADING in r.prompt_text for r in server.requests)
    assert not any(REPAIR_OF in e.hypothesis.meta for e in store.hypotheses(run_id, task.key))


async def test_evolve_repairs_on_the_failed_candidates_island_and_a_diff_edits_the_failed_program(
    store: Store,
) -> None:
    task = program_task()
    fix = "<<<<<<< SEARCH\nX = foo()\n=======\nX = 37\n>>>>>>> REPLACE\n"

    def model(request: RecordedRequest) -> str:
        if REPAIR_HEADING in request.prompt_text:
            return fix
        return BROKEN if seed_of(request) == (1, 0) else "```python\nX = 4\nY = 2\n```"

    with ScriptedLLMServer(model) as server:
        run_id, _ = await search(
            store, server, task, "evolve", Budget(iterations=3), samples=1, islands=2, edits="diff"
        )
    prompts = {seed_of(r): r.prompt_text for r in server.requests}
    assert REPAIR_HEADING not in prompts[(2, 0)]  # island 1's turn: nothing of island 0 to repair
    assert REPAIR_HEADING in prompts[(3, 0)] and "<<<<<<< SEARCH" in prompts[(3, 0)]
    entries = by_iteration(store, run_id, task)
    failed, fixed = entries[(1, 0)], entries[(3, 0)]
    assert fixed.hypothesis.content == "X = 37\nY = 2\n"  # the edit applied to the failed program
    assert fixed.hypothesis.meta[REPAIR_OF] == failed.hypothesis.id
    assert fixed.hypothesis.meta[ISLAND] == failed.hypothesis.meta[ISLAND] == 0
    assert fixed.verdict.status is VerdictStatus.OK


@pytest.mark.parametrize("strategy", ["refine", "evolve"])
async def test_a_resumed_search_plans_the_same_repairs(tmp_path: Path, strategy: str) -> None:
    """Repairs are derived from the records alone: stopping after iteration 2 and resuming to 5 asks the
    same prompts (repair prompts included) and ends with the archive of the uninterrupted search."""

    def model(request: RecordedRequest) -> str:
        iteration, sample = seed_of(request)
        if sample == 0 and iteration % 2 == 1:
            return BROKEN  # a crash every other iteration, repaired in the next
        return f"```python\nX = {iteration * 3 + sample}\nY = 2\n```"

    settings: dict[str, Any] = {"samples": 2, "islands": 2}
    with Store(tmp_path / "whole.db") as store, ScriptedLLMServer(model) as server:
        task = program_task()
        run_id, _ = await search(store, server, task, strategy, Budget(iterations=5), **settings)
        expected = archive_of(store, run_id, task)
        whole_prompts = sorted((seed_of(r), r.prompt_text) for r in server.requests)
    assert any(REPAIR_OF in row[3] for row in expected)
    with Store(tmp_path / "parts.db") as store, ScriptedLLMServer(model) as server:
        task = program_task()
        run_id, _ = await search(store, server, task, strategy, Budget(iterations=2), **settings)
        model_ = make_model(
            "openai/gpt-test", ModelSettings(**{**PATIENT.__dict__, "base_url": server.openai_base_url})
        )
        try:
            await Search(
                task=program_task(), model=model_, strategy=make_strategy(strategy),
                budget=Budget(iterations=5), store=store, run_id=run_id,
                settings=SearchSettings(seed=7, **settings),
            ).run()  # fmt: skip
        finally:
            await model_.close()
        got = archive_of(store, run_id, task)
        parts_prompts = sorted((seed_of(r), r.prompt_text) for r in server.requests)
    assert got == expected
    assert parts_prompts == whole_prompts
