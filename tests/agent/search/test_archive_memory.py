"""Archive entries share their models' field-name sets (issue 16: memory over a long run), which is safe
only while pydantic never adds a name to a frozen model's set in place: checked here, so an upgrade of
pydantic that did would fail this test rather than corrupt another entry's record."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from agent.search.archive import Archive


def entry(content: str, score: float) -> RecordedHypothesis:
    return RecordedHypothesis(
        0,
        Hypothesis.create(content, iteration=1, model="m", meta={"k": 1}),
        Verdict(status=VerdictStatus.FAIL, score=score),
    )


def test_entries_share_one_set_of_field_names_and_copies_do_not_change_it() -> None:
    archive = Archive()
    first, second = entry("a", 0.1), entry("b", 0.2)
    archive.append(first)
    archive.extend([second])
    assert second.hypothesis.__pydantic_fields_set__ is first.hypothesis.__pydantic_fields_set__
    assert second.verdict.__pydantic_fields_set__ is first.verdict.__pydantic_fields_set__
    names = set(first.verdict.model_fields_set)

    copied = second.verdict.model_copy(update={"feedback": "changed"})
    assert "feedback" in copied.model_fields_set
    assert first.verdict.model_fields_set == names  # the shared set is as it was
    with pytest.raises(ValidationError):
        second.verdict.feedback = "x"  # type: ignore[misc]  # frozen: refused before any name is added
    assert first.verdict.model_fields_set == names
    assert [e.verdict.score for e in archive.entries] == [0.1, 0.2]
    assert archive.best() is second


def test_an_indexed_view_answers_as_a_scan_of_the_same_entries_does() -> None:
    import random

    from agent.search.archive import RankIndex

    rng = random.Random(7)
    entries = []
    for position in range(400):
        content = str(rng.randrange(60))  # repeated contents: the same id more than once
        score = rng.choice([None, 0.0, 0.5, 1.0, rng.random()])  # ties and unscored ones
        status = VerdictStatus.ERROR if score is None else VerdictStatus.FAIL
        entries.append(
            RecordedHypothesis(
                rng.randrange(4),
                Hypothesis.create(content, iteration=rng.randrange(position // 20 + 1)),
                Verdict(status=status, score=score),
            )
        )
    index = RankIndex(entries[:100])
    for entry in entries[100:]:
        index.add(entry)
    for seen in (0, 1, 2, 17, 100, 250, 399, 400):
        plain, view = Archive(entries[:seen]), index.view(seen)
        assert view.entries == plain.entries
        for k in (0, 1, 2, 5, 50):
            assert view.top(k) == plain.top(k), (seen, k)
        assert view.latest_iteration() == plain.latest_iteration(), seen


def test_meta_values_are_the_values_a_scan_of_the_entries_finds_in_an_archive_and_an_indexed_view() -> None:
    """What `repair.failures` asks on every plan (the ids already repaired), kept incrementally: the same
    answer as the scan it replaced, for an archive that grows and for views of a prefix of it."""
    import random

    from agent.search.archive import RankIndex
    from agent.search.repair import REPAIR_OF, failures

    rng = random.Random(3)
    entries = []
    for position in range(300):
        meta = {REPAIR_OF: f"id{rng.randrange(40)}"} if rng.random() < 0.4 else {}
        entries.append(
            RecordedHypothesis(
                0,
                Hypothesis.create(f"p{position}", iteration=1 + position // 10, meta=meta),
                Verdict(status=VerdictStatus.ERROR, feedback="boom"),
            )
        )
    index, archive = RankIndex(), Archive()

    def scanned(prefix: list[RecordedHypothesis]) -> set[str]:
        return {e.hypothesis.meta[REPAIR_OF] for e in prefix if REPAIR_OF in e.hypothesis.meta}

    for position, item in enumerate(entries):
        index.add(item)
        archive.append(item)
        if position % 37 == 0:  # ask as the loops do, while the archive grows
            expected = scanned(entries[: position + 1])
            for values in (archive.meta_values(REPAIR_OF), index.view(position + 1).meta_values(REPAIR_OF)):
                assert {f"id{i}" for i in range(40) if f"id{i}" in values} == expected
    for seen in (0, 5, 120, 300):  # an earlier view sees only what its prefix holds
        values = index.view(seen).meta_values(REPAIR_OF)
        assert {f"id{i}" for i in range(40) if f"id{i}" in values} == scanned(entries[:seen])
        assert 7 not in values and None not in values  # not a str: never a value

    # a failure whose id was repaired once already gets no second repair prompt; the others do
    failed = [
        RecordedHypothesis(s, Hypothesis.create(f"f{s}", iteration=5), Verdict(status=VerdictStatus.ERROR))
        for s in range(3)
    ]
    repaired = Archive()
    fix = Hypothesis.create("fix", iteration=6, meta={REPAIR_OF: failed[1].hypothesis.id})
    repaired.append(RecordedHypothesis(0, fix, Verdict(status=VerdictStatus.ERROR)))
    assert failures(failed, repaired.meta_values(REPAIR_OF)) == [failed[0], failed[2]]
