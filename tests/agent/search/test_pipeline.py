"""The pipelined loop (agent/search/pipeline.py) against the scripted OpenAI-wire server and a real store:
exact budgets, a verifier kept busy while another verification is slow, deterministic replay after a crash,
`n` samples in one request."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from agent.kernel.types import Budget, Hypothesis, StopReason, Verdict, VerdictStatus
from agent.kernel.verifier import Verifier
from agent.models.base import ModelSettings, make_model
from agent.search.executors import LocalExecutor
from agent.search.pipeline import SEQ, PipelinedSearch, make_search
from agent.search.settings import SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from tasks.example.guess import make_guess_task
from tests.agent.search.pipeline_checks import assert_one_verdict_per_answer, assert_replayable
from tests.support.guesser import bisector
from tests.support.llm_server import RecordedRequest, Reply, ScriptedLLMServer

FAST = {"max_retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 120.0}


def by_seed(request: RecordedRequest) -> str:
    """An answer fixed by the request's seed alone, so any order of requests gets the same answers."""
    return f"ANSWER: {(int(request.body.get('seed') or 0) * 7919) % 101}"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "runs.db") as s:
        yield s


def settings(**kw: object) -> SearchSettings:
    return SearchSettings(**{"samples": 2, "seed": 7, "loop": "pipelined", **kw})


async def pipelined(
    server: ScriptedLLMServer,
    store: Store,
    budget: Budget,
    search_settings: SearchSettings,
    *,
    strategy: str = "refine",
    executor: object | None = None,
    run_id: str | None = None,
    **model_settings: object,
):
    task = make_guess_task(0, 37)
    run_id = run_id or store.create_run(task.name, "{}")
    store.start_search(run_id, task.key, 0)
    model = make_model(
        "openai/gpt-test", ModelSettings(**{**FAST, "base_url": server.openai_base_url, **model_settings})
    )
    search = make_search(
        "pipelined", task=task, model=model, strategy=make_strategy(strategy), budget=budget, store=store,
        run_id=run_id, settings=search_settings, executor=executor,
    )  # fmt: skip
    assert isinstance(search, PipelinedSearch)
    try:
        return task, run_id, await search.run()
    finally:
        await model.close()


async def test_a_calls_budget_holds_exactly_with_requests_in_flight(store: Store) -> None:
    with ScriptedLLMServer(by_seed) as server:
        task, run_id, outcome = await pipelined(
            server,
            store,
            Budget(calls=13, iterations=None, target=1000),
            settings(samples=4, pipeline_requests=3),
        )
        assert len(server.requests) == 13, sorted(r.body["seed"] for r in server.requests)
    assert outcome.stop_reason is StopReason.MAX_CALLS
    assert outcome.spend.calls == 13 == len(store.calls(run_id, task.key))
    assert len(store.hypotheses(run_id, task.key)) == 13
    per_iteration = [len([c for c in store.calls(run_id, task.key) if c.iteration == i]) for i in range(1, 5)]
    assert sorted(per_iteration) == [1, 4, 4, 4]
    assert len(store.iterations(run_id, task.key)) == 4  # an iteration is one plan, the last one short
    assert_one_verdict_per_answer(store, run_id, task.key)


async def test_an_iterations_budget_counts_plans(store: Store) -> None:
    with ScriptedLLMServer(by_seed) as server:
        task, run_id, outcome = await pipelined(server, store, Budget(iterations=3, target=1000), settings())
    assert outcome.stop_reason is StopReason.MAX_ITERATIONS
    assert outcome.iterations == 3 and outcome.spend.calls == 6
    assert {r.iteration for r in store.iterations(run_id, task.key)} == {1, 2, 3}


async def test_the_target_stops_planning_and_what_was_asked_is_still_judged(store: Store) -> None:
    with ScriptedLLMServer(bisector) as server:
        task, run_id, outcome = await pipelined(
            server, store, Budget(iterations=40, target=0.0), settings(top_k=10)
        )
    assert outcome.stop_reason is StopReason.TARGET_REACHED
    assert outcome.best is not None and outcome.best.verdict.score == 0.0
    assert outcome.iterations < 40
    assert_one_verdict_per_answer(store, run_id, task.key)  # in-flight work was drained, not dropped


class GatedExecutor:
    """Runs verifications here, at most `capacity` at once, but holds the very first one until
    `release_after` others have finished: a loop that waits for an iteration's slowest verification before
    it asks for more answers never gets there (the gate times out and that verification fails)."""

    def __init__(self, capacity: int, release_after: int) -> None:
        self.capacity = capacity
        self._inner = LocalExecutor(capacity)
        self._release_after = release_after
        self._finished = 0
        self._open = asyncio.Event()
        self._first: str | None = None
        self.held_iteration = 0
        self.events: list[tuple[str, int]] = []
        self.running = 0
        self.max_running = 0

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        first = self._first is None
        if first:
            self._first = hypothesis.id
            self.held_iteration = hypothesis.iteration
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.events.append(("start", hypothesis.iteration))
        try:
            if first:
                await asyncio.wait_for(self._open.wait(), timeout=60)
            return await self._inner.verify(role, verifier, hypothesis)
        finally:
            self.running -= 1
            self.events.append(("end", hypothesis.iteration))
            if not first:
                self._finished += 1
                if self._finished >= self._release_after:
                    self._open.set()

    async def aclose(self) -> None:
        pass


async def test_a_slow_verification_does_not_idle_the_model_or_the_other_slots(store: Store) -> None:
    gate = GatedExecutor(capacity=2, release_after=4)
    with ScriptedLLMServer(by_seed) as server:
        task, run_id, outcome = await pipelined(
            server, store, Budget(calls=8, iterations=None, target=1000), settings(samples=1), executor=gate
        )
    assert outcome.stop_reason is StopReason.MAX_CALLS
    verdicts = [e.verdict for e in store.hypotheses(run_id, task.key)]
    assert len(verdicts) == 8 and all(v.status is not VerdictStatus.ERROR for v in verdicts)
    ends = [iteration for kind, iteration in gate.events if kind == "end"]
    held = ends.index(gate.held_iteration)
    assert held >= 4  # the held verification ended after four others had, and
    assert max(ends[:held]) > gate.held_iteration + 1  # they include iterations planned after it
    assert gate.max_running == 2  # the other slot was kept busy, and never more than the capacity ran


class Crash(BaseException):
    """Stands for the process dying mid-run: nothing in the loop catches it."""


class CrashingExecutor(LocalExecutor):
    def __init__(self, capacity: int, crash_at: int) -> None:
        super().__init__(capacity)
        self.count = itertools.count(1)
        self.crash_at = crash_at

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        if next(self.count) >= self.crash_at:
            raise Crash
        return await super().verify(role, verifier, hypothesis)


@pytest.mark.parametrize("strategy", ["refine", "evolve"])
async def test_a_crashed_run_resumes_by_replay_and_every_plan_rebuilds_from_what_it_saw(
    store: Store, strategy: str
) -> None:
    search_settings = settings(samples=2, islands=2, pipeline_requests=2, verify_concurrency=2)
    budget = Budget(calls=16, iterations=None, target=1000)
    with ScriptedLLMServer(bisector) as server, pytest.raises(Crash):
        await pipelined(
            server,
            store,
            budget,
            search_settings,
            strategy=strategy,
            executor=CrashingExecutor(2, crash_at=7),
        )
    task = make_guess_task(0, 37)
    [run] = store.list_runs()
    before = {(e.hypothesis.iteration, e.sample): e for e in store.hypotheses(run.id, task.key)}
    answered = {(c.iteration, c.sample) for c in store.calls(run.id, task.key) if c.ok}
    assert 0 < len(before) < len(answered)  # answers recorded whose verdicts were lost with the process
    with ScriptedLLMServer(bisector) as server:
        _, _, outcome = await pipelined(
            server, store, budget, search_settings, strategy=strategy, run_id=run.id
        )
        asked = {(int(r.body["seed"]) % 1_000_003 - 7 * 1_000_003) // 1000 for r in server.requests}
    assert outcome.stop_reason is StopReason.MAX_CALLS and outcome.spend.calls == 16
    assert not asked & {i for i, _ in answered}  # recorded answers were replayed, not asked again
    after = {(e.hypothesis.iteration, e.sample): e for e in store.hypotheses(run.id, task.key)}
    assert all(after[k] == e for k, e in before.items())  # what was recorded stays as it was
    assert_one_verdict_per_answer(store, run.id, task.key)
    assert_replayable(store, run.id, task, strategy, search_settings)


async def test_n_samples_go_in_one_request_where_the_provider_takes_n(store: Store) -> None:
    def choices(request: RecordedRequest) -> Reply:
        base = int(request.body.get("seed") or 0)
        return Reply(content="", choices=tuple(f"ANSWER: {base + i}" for i in range(int(request.body["n"]))))

    with ScriptedLLMServer(choices) as server:
        task, run_id, outcome = await pipelined(
            server,
            store,
            Budget(calls=8, iterations=None, target=1000),
            settings(samples=4),
            n_per_request=True,
        )
        bodies = [r.body for r in server.requests]
    assert [b["n"] for b in bodies] == [4, 4]
    assert outcome.spend.calls == 8
    contents = sorted(e.hypothesis.content for e in store.hypotheses(run_id, task.key))
    assert len(set(contents)) == 8  # every choice became its own candidate
    assert all(SEQ in e.hypothesis.meta for e in store.hypotheses(run_id, task.key))


async def test_a_plans_calls_are_committed_together(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group commit may fall after any write; a plan's call rows must not be split by one, or a kill -9
    between them leaves a torn plan whose resume replays only the samples that survived (and never asks
    for the others: test_pipeline_kill saw the resumed run's iterations differ so). With groups that commit
    after every write, the statements SQLite ran show no COMMIT between two call rows of one plan."""
    import agent.search.pipeline as pipeline

    monkeypatch.setattr(pipeline, "GROUP_COMMIT_S", 1e-9)  # every write outside `together` commits at once
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        with ScriptedLLMServer(by_seed) as server:
            task, run_id, _ = await pipelined(
                server, store, Budget(calls=12, iterations=None, target=1000),
                settings(samples=3, pipeline_requests=2),
            )  # fmt: skip
    finally:
        store._db.set_trace_callback(None)
    assert len(store.calls(run_id, task.key)) == 12
    open_plan: int | None = None  # the iteration whose call rows are being written
    rows_of: dict[int, int] = {}
    commits = 0
    for sql in statements:
        if sql.lstrip().upper().startswith("COMMIT"):
            commits += 1
            assert open_plan is None or rows_of[open_plan] == 3, "a commit fell inside a plan's call rows"
            open_plan = None
        elif "INSERT" in sql.upper() and "llm_calls" in sql:
            # the traced statement has its parameters expanded: the iteration is the 3rd value
            iteration = int(sql.split("VALUES", 1)[1].split(",")[2])
            if open_plan is not None and iteration != open_plan:
                assert rows_of[open_plan] == 3
            open_plan = iteration
            rows_of[iteration] = rows_of.get(iteration, 0) + 1
    assert sorted(rows_of.values()) == [3, 3, 3, 3] and commits > 4  # groups did commit, between plans
