"""Multi-objective selection: the Pareto front on a constructed example, and `evolve` with `selection:
pareto` breeding from the front and recording it (real HTTP model server, real SQLite store)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from agent.kernel.errors import ConfigError
from agent.kernel.identity import fingerprint
from agent.kernel.records import RecordedHypothesis
from agent.kernel.task import Objective, Task
from agent.kernel.types import Budget, Hypothesis, Verdict, VerdictStatus
from agent.search.islands import build_population
from agent.search.pareto import PARETO_FRONT, dominates, objective_vector, pareto_front
from agent.store.sqlite import Store
from tests.agent.search.test_population import seed_of
from tests.agent.search.test_repair import search
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer

LENGTH = Objective("length", "min")


def point(name: str, score: float | None, length: float | None) -> RecordedHypothesis:
    status = VerdictStatus.ERROR if score is None else VerdictStatus.FAIL
    metrics = {} if length is None else {"length": length}
    verdict = Verdict(status=status, score=score, metrics=metrics)
    return RecordedHypothesis(0, Hypothesis.create(name, iteration=1), verdict)


def test_the_front_of_a_constructed_example() -> None:
    a, b, c = point("a", 10, 50), point("b", 8, 20), point("c", 8, 30)  # c: dominated by b
    d, e = point("d", 5, 10), point("e", 4, 40)  # e: dominated by b and d
    tie = point("tie", 10, 50)  # the same objectives as a: neither dominates the other
    crash, unmeasured, nan = point("crash", None, 5), point("unmeasured", 99, None), point("nan", 3, math.nan)
    entries = [a, b, c, d, e, tie, a, crash, unmeasured, nan]  # `a` twice: one per id
    front = pareto_front(entries, [LENGTH])
    assert {x.hypothesis.content for x in front} == {"a", "tie", "b", "d"}
    assert [x.verdict.score for x in front] == [10, 10, 8, 5]  # best score first
    assert objective_vector(b, [LENGTH]) == (8, -20)  # minimised: turned so that larger is better
    assert objective_vector(unmeasured, [LENGTH]) is None and objective_vector(crash, []) is None
    assert dominates((8, -20), (8, -30)) and not dominates((8, -20), (8, -20))
    # with the score alone the front is the best score: 99, of the one that reported no length
    assert [x.hypothesis.content for x in pareto_front(entries, [])] == ["unmeasured"]
    assert pareto_front([], [LENGTH]) == []


def test_an_objective_needs_a_name_and_a_direction() -> None:
    with pytest.raises(ConfigError):
        Objective("", "max")
    with pytest.raises(ConfigError):
        Objective("length", "smaller")  # type: ignore[arg-type]


class LengthVerifier:
    """Scores a program `X = <int>` by -|X - 37|, and reports its length as a second objective."""

    name = "x-length"
    version = fingerprint("x-length")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        match = re.search(r"X = (-?\d+)", hypothesis.content)
        if match is None:
            return Verdict(status=VerdictStatus.ERROR, feedback="no X")
        score = -abs(int(match.group(1)) - 37.0)
        return Verdict(status=VerdictStatus.FAIL, score=score, metrics={"length": len(hypothesis.content)})


async def test_evolve_with_pareto_selection_breeds_from_the_front_and_records_it(tmp_path: Path) -> None:
    task = Task(
        "test/x-length", "0", "Set X to the secret, in a short program.", parse=lambda t: t.strip() + "\n",
        verifier=LengthVerifier(), seed_candidates=("X = 30",), objectives=(LENGTH,),
    )  # fmt: skip

    def model(request: RecordedRequest) -> str:
        iteration, sample = seed_of(request)
        padding = "# " + "pad " * ((iteration * 7 + sample * 3) % 5)  # longer or shorter programs
        return f"X = {30 + (iteration * 5 + sample * 2) % 9}\n{padding}"

    with Store(tmp_path / "runs.db") as store, ScriptedLLMServer(model) as server:
        run_id, _ = await search(
            store, server, task, "evolve", Budget(iterations=5), samples=3, islands=1, selection="pareto"
        )
        entries = store.hypotheses(run_id, task.key)
    fronts = excluded = 0
    for child in (e for e in entries if e.hypothesis.iteration > 0):
        before = [e for e in entries if e.hypothesis.iteration < child.hypothesis.iteration]
        members = {e.hypothesis.id: e for e in build_population(before, 1, 10).ranked(0)}
        points = {i: (e.verdict.score, -e.verdict.metrics["length"]) for i, e in members.items()}
        expected = {  # by brute force: no member at least as good on both and better on one
            i for i, (s, n) in points.items()
            if not any(t >= s and m >= n and (t, m) != (s, n) for t, m in points.values())
        }  # fmt: skip
        recorded_front = child.hypothesis.meta[PARETO_FRONT]
        assert set(recorded_front) == expected  # what the records show is the front
        assert child.hypothesis.parent_ids[0] in expected  # the parent came from it
        fronts += len(expected) > 1
        excluded += len(members) > len(expected)
    assert fronts > 0  # a front of more than one: a short program kept beside a high-scoring one
    assert excluded > 0  # and dominated programs left off it
