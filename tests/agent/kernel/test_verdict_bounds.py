"""A verdict holds what a candidate can influence: non-finite metrics are kept and read back, a non-finite
score is refused, and huge or malformed fields are bounded with a note (the kernel's `Verdict` invariants)."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from agent.kernel.types import (
    MAX_ARTIFACT_CHARS,
    MAX_FEEDBACK_CHARS,
    MAX_METRICS,
    NOTES_KEY,
    Verdict,
    VerdictStatus,
    jsonable,
    revalidated_verdict,
)


def test_non_finite_metrics_round_trip_through_json() -> None:
    metrics = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "max": 1e308, "tiny": 5e-324}
    verdict = Verdict(status=VerdictStatus.FAIL, score=1e308, metrics=metrics)
    text = verdict.model_dump_json()
    json.loads(text, parse_constant=pytest.fail)  # strict JSON: no NaN/Infinity literals
    back = Verdict.model_validate_json(text)
    assert math.isnan(back.metrics["nan"]) and back.metrics["inf"] == math.inf
    assert back.metrics["-inf"] == -math.inf and back.metrics["max"] == 1e308
    assert back.metrics["tiny"] == 5e-324
    assert back.score == 1e308 and back.notes == ()
    assert back.model_dump_json() == text  # reading back changes nothing (the bounds are idempotent)


@pytest.mark.parametrize("score", [math.nan, math.inf, -math.inf, "nan", 10**400])
def test_a_non_finite_or_unrepresentable_score_is_refused(score: object) -> None:
    with pytest.raises(ValidationError) as raised:
        Verdict(status=VerdictStatus.OK, score=score)
    assert raised.value.title == "Verdict"


def test_a_verdict_made_without_validation_is_refused_when_revalidated() -> None:
    forged = Verdict.model_construct(status=VerdictStatus.OK, score=math.nan, metrics={}, feedback="")
    with pytest.raises(ValidationError, match="finite"):
        revalidated_verdict(forged)
    copied = Verdict(status=VerdictStatus.ERROR).model_copy(update={"score": 1.0})  # no validation either
    with pytest.raises(ValidationError, match="cannot carry a score"):
        revalidated_verdict(copied)
    with pytest.raises(TypeError):
        revalidated_verdict({"status": "ok"})


def test_huge_and_malformed_fields_are_bounded_with_a_note() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(500):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    verdict = Verdict(
        status=VerdictStatus.FAIL,
        score=0.5,
        metrics={"bigint": 10**400, "neg": -(10**400), "null": None, "text": "hello", "list": [1], "ok": 2},
        feedback="f" * (3 << 20) + "\udcff",
        artifacts={"deep": deep, "log": "l" * (1 << 20), "fine": "yes"},  # type: ignore[dict-item]
        duration_s=math.nan,
    )
    assert verdict.metrics["bigint"] == math.inf and verdict.metrics["neg"] == -math.inf
    assert math.isnan(verdict.metrics["null"]) and verdict.metrics["ok"] == 2.0
    assert "text" not in verdict.metrics and "list" not in verdict.metrics
    assert len(verdict.feedback) <= MAX_FEEDBACK_CHARS and "characters cut" in verdict.feedback
    assert verdict.feedback.startswith("fff") and verdict.feedback.endswith("\ufffd")  # valid UTF-8
    assert "deep" not in verdict.artifacts and len(verdict.artifacts["log"]) <= MAX_ARTIFACT_CHARS
    assert verdict.artifacts["fine"] == "yes" and verdict.duration_s == 0.0
    notes = "\n".join(verdict.notes)
    for said in ("'bigint'", "'text'", "'list'", "'deep'", "'log'", "feedback", "duration_s"):
        assert said in notes
    assert verdict.artifacts[NOTES_KEY] == notes
    again = Verdict.model_validate_json(verdict.model_dump_json())
    assert again.notes == verdict.notes and again.feedback == verdict.feedback


def test_too_many_metrics_keep_the_first_ones() -> None:
    verdict = Verdict(status=VerdictStatus.FAIL, metrics={f"m{i}": float(i) for i in range(MAX_METRICS + 50)})
    assert len(verdict.metrics) == MAX_METRICS and verdict.metrics["m0"] == 0.0
    assert any("beyond the first" in n for n in verdict.notes)


def test_jsonable_spells_non_finite_floats_as_strings() -> None:
    value = {"a": [math.nan, math.inf, -math.inf, 1.5], "b": (2, "x")}
    text = json.dumps(jsonable(value), allow_nan=False)
    assert json.loads(text) == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "b": [2, "x"]}
