"""What a verifier returns is validated before the search stores or scores it, and the verdict cache is keyed
by the sandbox that judged it. Real HTTP model server, real SQLite store, real sandboxes; the verifiers are
real `Verifier`s written here, the way a task author would write one."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.kernel.errors import SandboxError
from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import Job, Limits, Sandbox
from agent.kernel.task import Task
from agent.kernel.types import MAX_FEEDBACK_CHARS, Budget, Hypothesis, Verdict, VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.search.loop import Search, SearchOutcome, SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from sandboxes.config import ProcessSandboxConfig
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer

#: no test here waits on a request timeout; a loaded machine may take long to answer one
FAST = ModelSettings(max_retries=0, timeout_s=300)


def hostile_verdict(content: str) -> Verdict:
    """What a verifier reports for a candidate that tampered with its own measurements."""
    if content == "nan-score":
        return Verdict(status=VerdictStatus.OK, score=math.nan)  # raises inside the verifier
    if content == "forged":  # made without validation: must not slip through either
        return Verdict.model_construct(status=VerdictStatus.OK, score=math.inf, metrics={}, feedback="")
    if content == "wild":
        return Verdict(
            status=VerdictStatus.FAIL,
            score=1.0,
            metrics={"cpu": math.nan, "up": math.inf, "down": -math.inf, "max": 1e308, "big": 10**400},
            feedback="x" * (2 << 20),
        )
    return Verdict(status=VerdictStatus.OK, score=2.0, metrics={"m": math.nan}, feedback="fine")


class Hostile:
    name = "hostile"
    version = fingerprint("hostile", 1)

    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        self.calls += 1
        return hostile_verdict(hypothesis.content)


class InSandbox:
    """Runs each candidate in the sandbox it was given, as a sandboxed task's verifier does."""

    name = "in-sandbox"
    version = fingerprint("in-sandbox", 1)

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox, self.calls = sandbox, 0

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        self.calls += 1
        result = await self.sandbox.run(  # a wall far above a start on a loaded machine: the tests here
            # are about which verdict is reused, and a timeout would read as a wrong cache decision
            Job(command=["python3", "-c", f"print({int(hypothesis.content)} * 2)"], limits=Limits(wall_s=300))
        )
        if not result.ok:
            return Verdict(status=VerdictStatus.ERROR, feedback=result.stderr[-500:])
        return Verdict(status=VerdictStatus.FAIL, score=float(result.stdout.strip()))


def answers(*texts: str) -> Callable[[RecordedRequest], str]:
    """Sample i of every iteration answers texts[i] (by the request's seed, so order does not matter)."""
    return lambda request: texts[int(request.body["seed"]) % 1000 % len(texts)]


async def search(
    store: Store, task: Task, server: ScriptedLLMServer, samples: int, identity: str | None = None
) -> SearchOutcome:
    run_id = store.create_run(task.name, "{}")
    store.start_search(run_id, task.key, 0)
    model = make_model(
        "openai/gpt-test", ModelSettings(**{**FAST.__dict__, "base_url": server.openai_base_url})
    )
    try:
        return await Search(
            task=task,
            model=model,
            strategy=make_strategy("refine"),
            budget=Budget(iterations=2),
            store=store,
            run_id=run_id,
            settings=SearchSettings(samples=samples, seed=0),
            sandbox_identity=identity,
        ).run()
    finally:
        await model.close()


async def test_hostile_verdicts_are_stored_safely_and_read_back(tmp_path: Path) -> None:
    verifier = Hostile()
    task = Task("test/hostile", "0", "Answer.", parse=str.strip, verifier=verifier)
    with (
        Store(tmp_path / "runs.db") as store,
        ScriptedLLMServer(answers("wild", "nan-score", "forged", "ok")) as s,
    ):
        outcome = await search(store, task, s, samples=4)
        assert verifier.calls == 4  # the second iteration's identical candidates came from the cache
        assert outcome.best is not None and outcome.best.hypothesis.content == "ok"
        assert math.isnan(outcome.best.verdict.metrics["m"])
        run_id = store.list_runs()[0].id
        entries = {e.hypothesis.content: e.verdict for e in store.hypotheses(run_id, task.key)}
    wild = entries["wild"]
    assert (
        math.isnan(wild.metrics["cpu"])
        and wild.metrics["up"] == math.inf
        and wild.metrics["down"] == -math.inf
    )
    assert wild.metrics["max"] == 1e308 and wild.metrics["big"] == math.inf and wild.score == 1.0
    assert len(wild.feedback) <= MAX_FEEDBACK_CHARS and any("'big'" in n for n in wild.notes)
    for refused in ("nan-score", "forged"):
        verdict = entries[refused]
        assert verdict.status is VerdictStatus.ERROR and verdict.score is None
        assert "refused" in verdict.feedback and "infrastructure_error" not in verdict.artifacts


def sandbox_or_skip(isolation: str) -> Sandbox:
    try:
        return ProcessSandboxConfig(isolation=isolation).build()  # type: ignore[arg-type]
    except SandboxError as e:
        pytest.skip(f"process sandbox with {isolation} isolation unavailable: {e}")


async def test_a_verdict_is_reused_only_in_the_sandbox_that_judged_it(tmp_path: Path) -> None:
    plain, bwrap = sandbox_or_skip("plain"), sandbox_or_skip("bwrap")
    try:
        assert plain.identity != bwrap.identity
        with Store(tmp_path / "runs.db") as store, ScriptedLLMServer(answers("21")) as server:
            counts = []
            for sandbox in (plain, bwrap, plain):
                verifier = InSandbox(sandbox)
                task = Task(
                    "test/sandboxed", "0", "A number.", parse=str.strip, verifier=verifier, uses_sandbox=True
                )
                outcome = await search(store, task, server, samples=1, identity=sandbox.identity)
                assert outcome.best is not None and outcome.best.verdict.score == 42.0, outcome.best
                counts.append(verifier.calls)
            assert counts == [1, 1, 0]  # judged again under the other identity; reused under the same one
            cached = store.cached_verdicts(task.key)
            assert sorted(c.sandbox for c in cached) == sorted({plain.identity, bwrap.identity})

            verifier = InSandbox(plain)  # no identity known: the cache is neither read nor written
            task = Task(
                "test/sandboxed", "0", "A number.", parse=str.strip, verifier=verifier, uses_sandbox=True
            )
            await search(store, task, server, samples=1, identity=None)
            assert verifier.calls == 2 and len(store.cached_verdicts(task.key)) == 2
    finally:
        await plain.close()
        await bwrap.close()
