"""Successive halving: only the top candidates are re-verified on more seeds, and a lucky one is demoted.

The verifier is a real `MultiFidelityVerifier` (tests/support/noisy.py) whose noise is constructed: one
candidate is lucky on the single seed of the base fidelity. The search runs against the scripted OpenAI
server and a real store, so the verdicts re-verified on more seeds are the ones recorded and resumed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.kernel import ConfigError, Hypothesis, Task, Verdict, VerdictStatus
from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Budget
from agent.kernel.verifier import SEEDS_METRIC, MultiFidelityVerifier, fidelities_of
from agent.models.base import ModelSettings, make_model
from agent.search.archive import Archive
from agent.search.halving import AtFidelity, promotions, reevaluate_top, seeds_of
from agent.search.loop import Search, SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from tests.support.llm_server import ScriptedLLMServer, sequence
from tests.support.noisy import NoisyVerifier

LUCKY = "true=0.5 lucky=1.4"  # 1.9 on one seed, 0.85 on 4, 0.5875 on 16
CANDIDATES = ["true=1.0", "true=0.9", LUCKY, "true=0.2", "true=0.1", "true=0.0"]


def entry(content: str, verdict: Verdict, sample: int = 0) -> RecordedHypothesis:
    return RecordedHypothesis(sample, Hypothesis.create(content, iteration=1), verdict)


async def judged_archive(verifier: NoisyVerifier) -> Archive:
    archive = Archive()
    for i, content in enumerate(CANDIDATES):
        h = Hypothesis.create(content, iteration=1)
        archive.entries.append(RecordedHypothesis(i, h, await verifier.verify(h)))
    verifier.calls.clear()
    return archive


async def direct_verify(verifier, hypothesis):  # the verifier itself, as the loop's cache would call it
    return await verifier.verify(hypothesis)


def test_the_capability_is_declared_not_guessed() -> None:
    verifier = NoisyVerifier()
    assert isinstance(verifier, MultiFidelityVerifier)
    assert fidelities_of(verifier) == (1, 4, 16)
    assert fidelities_of(AtFidelity(verifier, 4)) == ()  # a plain verifier offers no choice

    class Misdeclared(NoisyVerifier):
        fidelities = (4, 1)

    with pytest.raises(ConfigError, match="ascending"):
        fidelities_of(Misdeclared())


async def test_the_lucky_candidate_is_demoted_and_only_the_top_are_re_verified() -> None:
    verifier = NoisyVerifier()
    archive = await judged_archive(verifier)
    assert max(archive.entries, key=lambda e: e.verdict.score or 0).hypothesis.content == LUCKY
    recorded: list[RecordedHypothesis] = []
    asked = await reevaluate_top(archive, verifier, 2, direct_verify, recorded.append)

    best = archive.best()
    assert best is not None and best.hypothesis.content == "true=1.0"  # the lucky one no longer leads
    assert seeds_of(best, 1) == 16 and best.verdict.metrics[SEEDS_METRIC] == 16.0
    assert "re-verified on 16 seeds" in best.verdict.feedback  # what the next prompt shows
    lucky = next(e for e in archive.entries if e.hypothesis.content == LUCKY)
    assert lucky.verdict.score == pytest.approx(0.85) and seeds_of(lucky, 1) == 4  # demoted on rung 4
    re_verified = {content for content, _ in verifier.calls}
    assert re_verified == {"true=1.0", "true=0.9", LUCKY}  # never the bottom three
    assert asked == len(verifier.calls) == len(recorded)
    assert (LUCKY, 16) not in verifier.calls  # demoted on 4 seeds, it never costs 16
    # the two best rest on the most seeds: nothing is left to promote
    assert promotions(archive.entries, (1, 4, 16), 2) == []


def test_promotions_go_one_rung_up_for_the_top_only() -> None:
    ok = VerdictStatus.OK
    entries = [
        entry("a", Verdict(status=ok, score=3.0)),
        entry("b", Verdict(status=ok, score=2.0, metrics={SEEDS_METRIC: 4.0})),
        entry("c", Verdict(status=ok, score=1.0)),
        entry("d", Verdict(status=VerdictStatus.ERROR)),
    ]
    assert promotions(entries, (1, 4, 16), 2) == [
        (entries[0].hypothesis.id, 4),
        (entries[1].hypothesis.id, 16),
    ]
    assert promotions(entries, (1, 4, 16), 0) == []
    assert promotions(entries, (1,), 2) == []


async def test_a_search_reports_the_best_on_the_most_seeds(tmp_path: Path) -> None:
    """Through the loop: the reported best is re-verified, recorded with its seed count, cached apart."""
    verifier = NoisyVerifier()
    task = Task(
        name="toy/noisy", problem_id="0", instructions="answer", parse=lambda text: text.strip(),
        verifier=verifier,
    )  # fmt: skip
    replies = sequence(*CANDIDATES[:4])
    with ScriptedLLMServer(replies) as server, Store(tmp_path / "runs.db") as store:
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        model = make_model("openai/m", ModelSettings(base_url=server.openai_base_url, max_retries=0))
        search = Search(
            task=task, model=model, strategy=make_strategy("best-of-n"), budget=Budget(iterations=1),
            store=store, run_id=run_id, settings=SearchSettings(samples=4, halving_top=1),
            sandbox_identity="none",
        )  # fmt: skip
        try:
            outcome = await search.run()
        finally:
            await model.close()
        assert outcome.best is not None and outcome.best.hypothesis.content == "true=1.0"
        stored = {e.hypothesis.content: e for e in store.hypotheses(run_id, task.key)}
        assert seeds_of(stored["true=1.0"], 1) == 16 and seeds_of(stored[LUCKY], 1) == 4
        assert seeds_of(stored["true=0.2"], 1) == 1  # never re-verified
        names = {row.verifier for row in store.cached_verdicts(task.key)}
        assert {"search:noisy", "search:noisy@4seeds", "search:noisy@16seeds"} <= names
