"""Faults under load for the pipelined loop: a burst of 429s and an outage are backed off and resumed
(`retry_window_s`), not turned into a stopped search; without the window the same burst stops it,
resumably. Real HTTP (the scripted OpenAI-wire server), a real store; no real minute is waited (the
backoff's limits are small here, bench/bench_pipeline.py shows the real one)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.kernel.types import Budget, StopReason
from agent.store.sqlite import Store
from tests.agent.search.pipeline_checks import assert_one_verdict_per_answer
from tests.agent.search.test_pipeline import by_seed, pipelined, settings
from tests.support.llm_server import RecordedRequest, Reply, ReplyLike, ScriptedLLMServer


class Outage:
    """The provider fails the first `failures` requests (429 with Retry-After 0, or 503), then recovers."""

    def __init__(self, failures: int, reply: Reply) -> None:
        self.failures = failures
        self.reply = reply
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> ReplyLike:
        with self._lock:
            if self.failures > 0:
                self.failures -= 1
                return self.reply
        return by_seed(request)


BURSTS = [Reply.rate_limited(retry_after=0.0), Reply.server_error(503, "service unavailable")]


@pytest.mark.parametrize("reply", BURSTS, ids=["429", "503"])
async def test_a_burst_of_failures_is_waited_out_within_the_retry_window(
    tmp_path: Path, reply: Reply
) -> None:
    with Store(tmp_path / "runs.db") as store, ScriptedLLMServer(Outage(24, reply)) as server:
        budget = Budget(calls=8, iterations=None, target=1000)
        task, run_id, outcome = await pipelined(server, store, budget, settings(), retry_window_s=120.0)
        statuses = [r.body.get("seed") for r in server.requests]
        assert outcome.stop_reason is StopReason.MAX_CALLS
        assert outcome.spend.calls == 8 and all(c.ok for c in store.calls(run_id, task.key))
        assert len(statuses) == 8 + 24  # every failure was retried; nothing was answered twice
        assert_one_verdict_per_answer(store, run_id, task.key)


async def test_without_the_window_the_burst_stops_the_search_resumably_and_resume_goes_on(
    tmp_path: Path,
) -> None:
    budget = Budget(calls=8, iterations=None, target=1000)
    with Store(tmp_path / "runs.db") as store:
        with ScriptedLLMServer(Outage(1000, Reply.rate_limited(retry_after=0.0))) as server:
            task, run_id, outcome = await pipelined(server, store, budget, settings())
        assert outcome.stop_reason is StopReason.MODEL_ERROR  # max_retries=1: gave up
        assert store.get_search(run_id, task.key).finished is False  # type: ignore[union-attr]
        with ScriptedLLMServer(by_seed) as server:
            _, _, resumed = await pipelined(server, store, budget, settings(), run_id=run_id)
        assert resumed.stop_reason is StopReason.MAX_CALLS
        assert len([c for c in store.calls(run_id, task.key) if c.ok]) == 8
        assert_one_verdict_per_answer(store, run_id, task.key)
