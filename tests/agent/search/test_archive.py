"""The archive: what it ranks best, what `top` returns, and which entries are the latest iteration's."""

from __future__ import annotations

from agent.kernel.types import VerdictStatus
from agent.search.archive import Archive, rank_key
from tests.support.records import recorded


def test_an_empty_archive_has_nothing_to_offer() -> None:
    archive = Archive()
    assert len(archive) == 0
    assert archive.best() is None and archive.best_score() is None
    assert archive.top(3) == [] and archive.latest_iteration() == []


def test_best_ignores_unscored_entries() -> None:
    crashed = recorded("crash", None, iteration=3)
    timed_out = recorded("loop", None, iteration=3, sample=1, status=VerdictStatus.TIMEOUT)
    archive = Archive([crashed, timed_out])
    assert archive.best() is None and archive.best_score() is None  # a crash is no evidence of quality

    zero = recorded("zero", 0.0, iteration=1)
    archive.extend([zero])
    assert archive.best() is zero
    assert archive.best_score() == 0.0  # a real score of 0 is a score, not "none"


def test_best_is_the_highest_score_and_the_newest_among_equals() -> None:
    old = recorded("old", 0.7, iteration=1)
    low = recorded("low", 0.2, iteration=4)
    new = recorded("new", 0.7, iteration=2)
    archive = Archive([old, low, new])
    assert archive.best() is new  # equal scores: the newer one, whose feedback is the most current
    assert archive.best_score() == 0.7


def test_rank_orders_by_score_then_iteration_then_sample() -> None:
    a = recorded("a", 0.9, iteration=1)
    b = recorded("b", 0.9, iteration=2, sample=1)
    c = recorded("c", 0.9, iteration=2, sample=0)
    d = recorded("d", 0.1, iteration=5)
    e = recorded("e", None, iteration=6)
    f = recorded("f", -3.0, iteration=0)
    ranked = sorted([e, a, f, d, b, c], key=rank_key, reverse=True)
    # best score first; among equals the later iteration, then the earlier sample; unscored below negatives
    assert [x.hypothesis.content for x in ranked] == ["c", "b", "a", "d", "f", "e"]


def test_top_gives_k_distinct_hypotheses_best_first() -> None:
    first = recorded("same program", 0.5, iteration=1)
    again = recorded("same program", 0.5, iteration=3, sample=2)  # re-proposed: same id, cached verdict
    better = recorded("better", 0.8, iteration=2)
    worse = recorded("worse", 0.1, iteration=2, sample=1)
    archive = Archive([first, better, again, worse])
    assert first.hypothesis.id == again.hypothesis.id

    top = archive.top(2)
    assert top == [better, again]  # one entry per id: the newest of the repeated program
    assert archive.top(10) == [better, again, worse]  # never more than there are distinct hypotheses
    assert archive.top(1) == [better]


def test_top_falls_back_to_unscored_entries_when_nothing_scored() -> None:
    invalid = recorded("unparseable", None, iteration=1, status=VerdictStatus.INVALID)
    crash = recorded("crash", None, iteration=2)
    archive = Archive([invalid, crash])
    assert archive.top(1) == [crash]  # the newest failure, with the most current feedback to learn from
    assert archive.top(5) == [crash, invalid]


def test_latest_iteration_is_every_entry_of_the_last_iteration_in_order() -> None:
    seed = recorded("seed", 0.3, iteration=0)
    one = recorded("one", 0.9, iteration=1)
    two_a = recorded("two a", None, iteration=2, sample=0)
    two_b = recorded("two b", 0.1, iteration=2, sample=1)
    archive = Archive()
    archive.extend([seed, one, two_a, two_b])
    assert len(archive) == 4
    assert archive.latest_iteration() == [two_a, two_b]  # scored or not, as recorded
