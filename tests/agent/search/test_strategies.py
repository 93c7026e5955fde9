"""The strategies: which earlier hypotheses each one shows the model, from a real archive."""

from __future__ import annotations

import random
import statistics

import pytest

from agent.kernel.errors import UnknownNameError
from agent.search.archive import Archive
from agent.search.strategies import STRATEGIES, BestOfN, Evolve, Refine, make_strategy
from tests.support.records import recorded


def ids(entries: list) -> list[str]:
    return [e.hypothesis.id for e in entries]


def ladder(n: int) -> Archive:
    """n distinct hypotheses scored 0 .. n-1, spread over iterations, plus a crash and a repeat."""
    entries = [recorded(f"candidate {i}", float(i), iteration=1 + i % 3, sample=i) for i in range(n)]
    entries.append(recorded("crashes", None, iteration=2, sample=n))
    entries.append(recorded("candidate 0", 0.0, iteration=4))  # re-proposed later: same id
    return Archive(entries)


def test_the_registry_builds_each_strategy_by_name() -> None:
    with pytest.raises(UnknownNameError, match="unknown strategy 'greedy'"):
        make_strategy("greedy")
    assert isinstance(make_strategy("best-of-n"), BestOfN)
    assert isinstance(make_strategy("refine"), Refine)
    assert isinstance(make_strategy("evolve"), Evolve)
    assert {"best-of-n", "refine", "evolve"} <= set(STRATEGIES)
    for name in ("best-of-n", "refine", "evolve"):
        assert make_strategy(name).name == name


@pytest.mark.parametrize("k", [0, 1, 4])
def test_best_of_n_never_shows_earlier_attempts(k: int) -> None:
    assert BestOfN().select_parents(ladder(6), k, random.Random(0)) == []


def test_best_of_n_shows_only_the_tasks_seed_program() -> None:
    """A seeded task (circle packing starts from a grid) shows every best-of-n prompt that same start, and
    never what the search found since, however much better."""
    archive = ladder(6)
    seed = recorded("the starting program", 0.5, iteration=0, meta={"seed": True})
    archive.entries.append(seed)
    assert BestOfN().select_parents(archive, 3, random.Random(0)) == [seed]
    assert BestOfN().select_parents(archive, 0, random.Random(0)) == []


def test_refine_gives_the_top_k_distinct_by_score_with_newer_winning_ties() -> None:
    old = recorded("old best", 0.9, iteration=1)
    new = recorded("new best", 0.9, iteration=3)
    mid = recorded("middle", 0.6, iteration=2)
    mid_again = recorded("middle", 0.6, iteration=3, sample=1)
    crash = recorded("crash", None, iteration=3, sample=2)
    archive = Archive([old, mid, new, mid_again, crash])
    refine = Refine()
    assert refine.select_parents(archive, 1, random.Random(0)) == [new]
    assert refine.select_parents(archive, 2, random.Random(0)) == [new, old]
    assert refine.select_parents(archive, 3, random.Random(0)) == [new, old, mid_again]  # one per id
    assert ids(refine.select_parents(archive, 3, random.Random(1))) == ids([new, old, mid_again])  # no rng


def test_refine_on_an_empty_archive_gives_nothing() -> None:
    assert Refine().select_parents(Archive(), 3, random.Random(0)) == []


def test_evolve_is_deterministic_for_a_seeded_rng() -> None:
    archive = ladder(10)
    for seed in range(20):
        first = Evolve().select_parents(archive, 3, random.Random(seed))
        again = Evolve().select_parents(archive, 3, random.Random(seed))
        assert ids(first) == ids(again)
    draws = {tuple(ids(Evolve().select_parents(archive, 3, random.Random(s)))) for s in range(20)}
    assert len(draws) > 1  # the seed matters: it is a draw, not a fixed ranking


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_evolve_returns_distinct_parents_and_as_many_as_asked(k: int) -> None:
    archive = ladder(8)  # 9 distinct hypotheses (the repeat shares an id)
    for seed in range(30):
        parents = Evolve().select_parents(archive, k, random.Random(seed))
        assert len(parents) == k
        assert len(set(ids(parents))) == k


def test_evolve_never_returns_more_than_the_archive_holds() -> None:
    archive = ladder(2)  # 3 distinct hypotheses in 4 entries
    for seed in range(10):
        parents = Evolve().select_parents(archive, 10, random.Random(seed))
        assert sorted(ids(parents)) == sorted({e.hypothesis.id for e in archive.entries})
    assert Evolve().select_parents(Archive(), 3, random.Random(0)) == []
    assert Evolve().select_parents(archive, 0, random.Random(0)) == []


def test_evolve_prefers_higher_ranks_in_expectation() -> None:
    entries = [recorded(f"c{i}", float(i), iteration=1, sample=i) for i in range(10)]
    archive = Archive(entries)
    firsts = [Evolve().select_parents(archive, 1, random.Random(seed))[0] for seed in range(400)]
    scores = [p.verdict.score for p in firsts]
    archive_mean = statistics.mean(float(i) for i in range(10))  # 4.5
    # weight exp(-rank / 2): the best is drawn about 40% of the time, the mean rank is about 1.5
    assert statistics.mean(scores) > archive_mean + 2
    assert scores.count(9.0) > scores.count(8.0) > scores.count(5.0)
    assert len(set(scores)) >= 5  # and still keeps diversity: not only the best is ever shown


def test_evolve_ranks_unscored_hypotheses_last() -> None:
    archive = Archive([recorded("crash", None, iteration=9), recorded("weak", 0.01, iteration=1)])
    firsts = []
    for seed in range(200):
        parents = Evolve().select_parents(archive, 2, random.Random(seed))
        assert sorted(p.hypothesis.content for p in parents) == ["crash", "weak"]
        firsts.append(parents[0].hypothesis.content)
    assert firsts.count("weak") > firsts.count("crash") > 0  # ranked first, drawn first more often
