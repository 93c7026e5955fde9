"""The viewer's pieces without a browser: the lineage walk and the missing-extra message."""

from __future__ import annotations

import importlib.util

import pytest

from agent.kernel.errors import AssayError
from agent.kernel.types import Verdict, VerdictStatus
from agent.view import server
from agent.view.data import Candidate, lineage


def _cand(id: str, content: str, score: float | None, parents: tuple[str, ...] = ()) -> Candidate:
    verdict = Verdict(status=VerdictStatus.FAIL, score=score, feedback=f"feedback on {id}")
    return Candidate(1, 0, id, content, parents, "m", verdict, None, None)


def test_lineage_follows_the_best_parent_root_first_and_survives_cycles() -> None:
    root, weak = _cand("a", "x = 1\n", -5.0), _cand("w", "x = 9\n", -9.0)
    child = _cand("b", "x = 2\n", -2.0, ("w", "a"))
    best = _cand("c", "x = 3\n", 0.0, ("b", "c"))  # a self-reference must not loop
    steps = lineage("c", [root, weak, child, best])
    assert [s.candidate.id for s in steps] == ["a", "b", "c"]
    assert steps[0].parent is None and steps[0].diff == []
    assert steps[1].feedback_seen == "feedback on a" and "+x = 2" in steps[1].diff
    assert lineage(None, [root]) == [] and lineage("missing", [root]) == []


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "uvicorn" else real(n, *a))
    with pytest.raises(AssayError, match=r"pip install 'assay\[view\]'.*uvicorn"):
        server.require_extra()
