"""Diff edits, near-duplicate keys and the population's derivation, on real records."""

from __future__ import annotations

import random

import pytest

from agent.search.dedup import normal_form
from agent.search.edits import EditError, apply_edits, has_edits, parse_edits
from agent.search.islands import ISLAND, build_population, diverse, pick_by_rank
from tests.support.records import recorded

PARENT = "def f(x):\n    return x + 1\n\nY = 2\n"


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_edits_apply_in_order_to_the_parent() -> None:
    text = "Here:\n" + block("    return x + 1", "    return x * 2") + block("Y = 2", "Y = 3")
    assert has_edits(text)
    assert apply_edits(PARENT, text) == "def f(x):\n    return x * 2\n\nY = 3\n"
    assert apply_edits(PARENT, block("Y = 2", "")) == "def f(x):\n    return x + 1\n\n\n"  # a deletion


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (block("Y = 5", "Y = 3"), "edit block 1 does not occur in the parent"),
        (block("Y = 2", "Y = 3") + block("Z = 1", "Z = 2"), "edit block 2 does not occur"),
        ("<<<<<<< SEARCH\nY = 2\n>>>>>>> REPLACE\n", "has no ======= line"),
        ("<<<<<<< SEARCH\nY = 2\n=======\nY = 3\n", "is not closed"),
        (block("", "Y = 3"), "empty SEARCH part"),
    ],
)
def test_an_edit_that_does_not_apply_says_why(text: str, reason: str) -> None:
    with pytest.raises(EditError, match=reason):
        apply_edits(PARENT, text)


def test_an_answer_without_blocks_is_not_an_edit() -> None:
    assert not has_edits("```python\nY = 3\n```")
    assert parse_edits("no blocks here") == []


def test_normal_form_ignores_comments_whitespace_and_formatting_only() -> None:
    a = normal_form("def f(x):\n    return x+1  # inc\n")
    assert a == normal_form("def f( x ):\n\n    # a comment\n    return (x + 1)\n")
    assert a != normal_form("def f(x):\n    return x + 2\n")
    assert normal_form("not python ((") == normal_form("not   python\n((")  # words, where it won't parse
    assert normal_form("1") != normal_form("text:1")


def test_population_migrates_only_on_schedule_and_seeds_are_everyones() -> None:
    seed = recorded("seed", 0.0, iteration=0, meta={"seed": True})
    entries = [seed]
    for t in range(1, 7):
        island = (t - 1) % 2
        entries.append(recorded(f"c{t}", float(t), iteration=t, meta={ISLAND: island}))
    population = build_population(entries, islands=2, migration_interval=3)
    assert [(m.after_iteration, m.source, m.target) for m in population.migrations] == [
        (3, 0, 1), (3, 1, 0), (6, 0, 1), (6, 1, 0),
    ]  # fmt: skip
    by_id = {e.hypothesis.id: e.hypothesis.content for e in entries}
    # after iteration 3: island 0 holds seed, c1, c3 and island 1's best c2; island 1 the seed, c2 and c3
    assert [by_id[m.hypothesis_id] for m in population.migrations[:2]] == ["c3", "c2"]
    assert seed.hypothesis.id in population.members[0] and seed.hypothesis.id in population.members[1]
    assert build_population(entries, islands=2, migration_interval=0).migrations == []


def test_rank_selection_and_diversity_are_seeded_draws() -> None:
    ranked = [recorded(f"c{i}", float(-i), iteration=1, sample=i) for i in range(6)]
    draws = [pick_by_rank(ranked, 0.01, random.Random(s)) for s in range(20)]
    assert {d.hypothesis.content for d in draws if d} == {"c0"}  # a cold temperature: the best only
    warm = {pick_by_rank(ranked, 100.0, random.Random(s)).hypothesis.content for s in range(60)}  # type: ignore[union-attr]
    assert len(warm) == 6
    same = recorded("same behaviour as c0", 0.0, iteration=2)
    picks = diverse([same, *ranked], [ranked[0]], 3, random.Random(1))
    assert same not in picks and ranked[0] not in picks and len(picks) == 3
    assert picks == diverse([same, *ranked], [ranked[0]], 3, random.Random(1))
