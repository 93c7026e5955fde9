"""A task's answer start (Task.answer_start): which prompts carry it, what is recorded, what is sent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.kernel.types import Budget, Message
from agent.search.loop import Search, SearchSettings
from agent.search.plan import Plan
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from tasks.example.guess import make_guess_task
from tests.agent.search.test_loop import model_for
from tests.support.llm_server import ScriptedLLMServer

START = "My guess: "
PROMPT = [Message(role="system", content="s"), Message(role="user", content="u")]


def test_whole_solution_prompts_get_the_start_and_edit_prompts_do_not() -> None:
    repair = Plan(list(PROMPT), ("a",))
    edit = Plan(list(PROMPT), ("b",), edit_base="x = 1\n")
    plan = Plan(list(PROMPT), ("c",), repairs=(repair, edit)).with_answer_start(START)
    assert plan.messages[-1] == Message(role="assistant", content=START) and len(plan.messages) == 3
    assert plan.for_sample(0).messages[-1].content == START
    assert plan.for_sample(1).messages == PROMPT  # a diff edit does not start like a whole answer
    assert Plan(list(PROMPT), ()).with_answer_start("").messages == PROMPT
    again = plan.with_answer_start(START)
    assert again.messages == plan.messages  # an answer is started once


@pytest.mark.parametrize("loop", ["generational", "pipelined"])
async def test_the_start_is_recorded_with_the_prompt_and_left_out_of_a_chat_completions_request(
    tmp_path: Path, loop: str
) -> None:
    task = dataclasses.replace(make_guess_task(0, 37), answer_start=START)
    with Store(tmp_path / "runs.db") as store, ScriptedLLMServer("37") as server:
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        model = model_for(server)
        settings = SearchSettings(samples=2, seed=7, loop=loop)  # type: ignore[arg-type]
        search = Search(
            task=task, model=model, strategy=make_strategy("refine"), budget=Budget(iterations=1),
            store=store, run_id=run_id, settings=settings,
        )  # fmt: skip
        try:
            result = await search.run()
        finally:
            await model.close()
        calls = store.calls(run_id, task.key)
        sent = [r.body["messages"] for r in server.requests]
    assert result.best is not None and result.best.hypothesis.content == "37"
    assert calls and all(c.messages[-1] == Message(role="assistant", content=START) for c in calls)
    assert sent and all(m[-1]["role"] == "user" for m in sent)
