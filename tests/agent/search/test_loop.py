"""The search loop against a real HTTP model server (OpenAI wire format) and a real SQLite store."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from agent.kernel.types import Budget, StopReason, VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.search.loop import Search, SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from tasks.example.guess import make_guess_task
from tests.support.guesser import bisector, constant
from tests.support.llm_server import Reply, ScriptedLLMServer

FAST = ModelSettings(max_retries=1, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=300)


def model_for(server: ScriptedLLMServer, name: str = "gpt-test"):
    return make_model(
        f"openai/{name}", ModelSettings(**{**FAST.__dict__, "base_url": server.openai_base_url})
    )


async def run_search(
    server: ScriptedLLMServer,
    store: Store,
    *,
    strategy: str = "refine",
    budget: Budget,
    samples: int = 2,
    secret: int = 37,
    run_id: str | None = None,
    model_name: str = "gpt-test",
    top_k: int = 1,
):
    task = make_guess_task(0, secret)
    run_id = run_id or store.create_run(task.name, "{}")
    store.start_search(run_id, task.key, 0)
    model = model_for(server, model_name)
    search = Search(
        task=task,
        model=model,
        strategy=make_strategy(strategy),
        budget=budget,
        store=store,
        run_id=run_id,
        settings=SearchSettings(samples=samples, seed=7, top_k=top_k),
    )
    try:
        return task, run_id, await search.run()
    finally:
        await model.close()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "runs.db") as s:
        yield s


async def test_refine_uses_feedback_and_reaches_target(store: Store) -> None:
    with ScriptedLLMServer(bisector) as server:
        _, run_id, outcome = await run_search(
            server, store, budget=Budget(iterations=10, target=0.0), samples=1, top_k=10
        )
    assert outcome.stop_reason is StopReason.TARGET_REACHED
    assert outcome.best is not None and outcome.best.hypothesis.content == "37"
    assert outcome.iterations > 1  # the first guess (about 50) is wrong
    first, second = server.requests[0].prompt_text, server.requests[1].prompt_text
    assert "is too" not in first
    first_guess = store.hypotheses(run_id, "example/guess#0")[0].hypothesis.content
    assert f"{first_guess} is too" in second  # the first verdict's feedback reached the second prompt
    assert outcome.held_out is not None and outcome.held_out.status is VerdictStatus.OK
    # the held-out verifier's output never reaches the model
    assert all("HELD-OUT-SECRET-MARKER" not in r.prompt_text for r in server.requests)
    row = store.get_search(run_id, "example/guess#0")
    assert row is not None and row.held_out is not None
    assert row.held_out.feedback == "HELD-OUT-SECRET-MARKER"


async def test_best_of_n_gets_no_feedback_and_does_not_converge(store: Store) -> None:
    with ScriptedLLMServer(bisector) as server:
        _, _, outcome = await run_search(
            server, store, strategy="best-of-n", budget=Budget(iterations=3, target=0.0), samples=1
        )
    assert outcome.stop_reason is StopReason.MAX_ITERATIONS
    assert all("is too" not in r.prompt_text for r in server.requests)
    assert outcome.best is not None and outcome.best.verdict.status is VerdictStatus.FAIL


async def test_refine_and_best_of_n_make_comparable_records(tmp_path: Path) -> None:
    seeds: dict[str, list[int]] = {}
    for strategy in ("refine", "best-of-n"):
        with Store(tmp_path / f"{strategy}.db") as store, ScriptedLLMServer(constant) as server:
            _, run_id, outcome = await run_search(
                server, store, strategy=strategy, budget=Budget(iterations=3), samples=3
            )
            assert outcome.spend.calls == 9
            seeds[strategy] = sorted(r.body["seed"] for r in server.requests)
            calls = store.calls(run_id)
            assert [(c.iteration, c.sample) for c in calls] == [(i, s) for i in (1, 2, 3) for s in range(3)]
    assert seeds["refine"] == seeds["best-of-n"]


async def test_repeated_candidate_costs_no_verification(store: Store) -> None:
    task = make_guess_task(0, 37)
    run_id = store.create_run(task.name, "{}")
    store.start_search(run_id, task.key, 0)
    with ScriptedLLMServer(constant) as server:
        model = model_for(server)
        search = Search(
            task=task,
            model=model,
            strategy=make_strategy("refine"),
            budget=Budget(iterations=3),
            store=store,
            run_id=run_id,
            settings=SearchSettings(samples=4),
        )
        outcome = await search.run()
        await model.close()
    assert outcome.spend.calls == 12
    assert len(store.hypotheses(run_id, task.key)) == 12
    assert task.verifier.calls == 1  # 12 identical candidates, one verification


@pytest.mark.parametrize(
    ("budget", "reason", "calls"),
    [
        (Budget(iterations=2), StopReason.MAX_ITERATIONS, 4),
        (Budget(iterations=None, calls=5), StopReason.MAX_CALLS, 5),
        (Budget(iterations=None, tokens=30), StopReason.MAX_TOKENS, None),
        (Budget(iterations=None, patience=2), StopReason.CONVERGED, 6),
    ],
)
async def test_budget_stops(store: Store, budget: Budget, reason: StopReason, calls: int | None) -> None:
    with ScriptedLLMServer(Reply.text("ANSWER: 50", prompt_tokens=10, completion_tokens=5)) as server:
        _, _, outcome = await run_search(server, store, budget=budget, samples=2)
    assert outcome.stop_reason is reason, outcome.stop_detail
    if calls is not None:
        assert outcome.spend.calls == calls == len(server.requests)
    if reason is StopReason.MAX_TOKENS:
        assert outcome.spend.tokens >= 30 and outcome.spend.tokens - 30 < 2 * 15  # stops within one iteration


async def test_cost_budget_uses_the_price_table(store: Store) -> None:
    reply = Reply.text("ANSWER: 50", prompt_tokens=100_000, completion_tokens=100_000)
    with ScriptedLLMServer(reply) as server:
        _, _, outcome = await run_search(
            server,
            store,
            budget=Budget(iterations=None, cost_usd=0.5),
            samples=1,
            model_name="gpt-4o-mini",
        )
    assert outcome.stop_reason is StopReason.MAX_COST
    assert outcome.spend.cost_usd >= 0.5
    assert outcome.spend.calls < 20


async def test_wall_clock_budget(store: Store) -> None:
    with ScriptedLLMServer(Reply.text("ANSWER: 50").after(0.4)) as server:
        _, _, outcome = await run_search(server, store, budget=Budget(iterations=None, minutes=1 / 60))
    assert outcome.stop_reason is StopReason.MAX_SECONDS
    # without the limit the search would never stop; the bound is loose so a loaded machine cannot fail it
    assert 1.0 <= outcome.elapsed_s < 30.0


async def test_persistent_model_failure_stops_with_reason(store: Store) -> None:
    with ScriptedLLMServer(Reply.server_error()) as server:
        _, run_id, outcome = await run_search(server, store, budget=Budget(iterations=3))
    assert outcome.stop_reason is StopReason.MODEL_ERROR
    assert "500" in outcome.stop_detail or "gave up" in outcome.stop_detail
    failed = store.calls(run_id)
    assert failed and all(not c.ok and c.error for c in failed)


async def test_unparseable_completion_is_invalid_and_its_error_is_fed_back(store: Store) -> None:
    with ScriptedLLMServer(["I would rather not say.", "ANSWER: 37"]) as server:
        _, run_id, outcome = await run_search(server, store, budget=Budget(iterations=2), samples=1)
    entries = store.hypotheses(run_id, "example/guess#0")
    assert entries[0].verdict.status is VerdictStatus.INVALID and entries[0].verdict.score is None
    assert "no integer found" in server.requests[1].prompt_text
    assert outcome.best is not None and outcome.best.hypothesis.content == "37"


async def test_lineage_is_recorded(store: Store) -> None:
    with ScriptedLLMServer(bisector) as server:
        _, run_id, _ = await run_search(server, store, budget=Budget(iterations=3), samples=1)
    entries = store.hypotheses(run_id, "example/guess#0")
    assert entries[0].hypothesis.parent_ids == ()
    for earlier, later in itertools.pairwise(entries):
        assert later.hypothesis.parent_ids  # each refinement names what it refined
        assert set(later.hypothesis.parent_ids) <= {e.hypothesis.id for e in entries[: entries.index(later)]}
        assert earlier.hypothesis.iteration < later.hypothesis.iteration


async def test_an_answer_cut_off_by_the_completion_limit_is_told_so(store: Store) -> None:
    """An answer the limit stopped mid-way (an unclosed code block reads as "no code block") gets the
    cause and the fix in its feedback, and the next prompt shows it; an unparseable answer that ended by
    itself does not."""
    replies = [
        Reply.text("Let me think about which number it", finish_reason="length"),
        Reply.text("I cannot say.", finish_reason="stop"),
        Reply.text("37"),
    ]
    with ScriptedLLMServer(replies) as server:
        task, run_id, _ = await run_search(
            server, store, budget=Budget(iterations=3, target=0.0), samples=1, top_k=5
        )
        prompts = [r.prompt_text for r in server.requests]
    first, second = [e.verdict for e in store.hypotheses(run_id, task.key)][:2]
    assert first.status is VerdictStatus.INVALID and second.status is VerdictStatus.INVALID
    assert "cut off at the completion limit (1024 tokens)" in first.feedback
    assert "cut off" not in second.feedback
    assert "cut off at the completion limit" in prompts[1]
    # the cut-off answer itself is not shown back (a small model wrote it again); a whole one is
    assert "Let me think about which number it" not in prompts[1] + prompts[2]
    assert "(not shown, 1 line: the completion limit cut it off before it was complete)" in prompts[1]
    assert "I cannot say." in prompts[2]
