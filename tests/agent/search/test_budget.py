"""The budget tracker: each limit stops the search before an iteration, with its reason and what was used;
the target and convergence stop it after one."""

from __future__ import annotations

from typing import Any

import pytest

from agent.kernel.records import Spend
from agent.kernel.types import Budget, StopReason
from agent.search.budget import BudgetTracker

UNLIMITED: dict[str, Any] = {"iterations": None}


def tracker(budget: dict[str, Any], **state: Any) -> BudgetTracker:
    """A tracker part-way through a search (`state`: iterations, spend, elapsed_s, best_history) under a
    budget of these Budget fields, unlimited in the others."""
    return BudgetTracker(Budget(**{**UNLIMITED, **budget}), **state)


# (budget, the state just below the limit, the state at it, the stop reason and its detail)
LIMITS = [
    pytest.param(
        {"iterations": 3},
        {"iterations": 2},
        {"iterations": 3},
        StopReason.MAX_ITERATIONS,
        "ran 3 iterations",
        id="iterations",
    ),
    pytest.param(
        {"calls": 4},
        {"spend": Spend(calls=3)},
        {"spend": Spend(calls=4)},
        StopReason.MAX_CALLS,
        "used 4 of 4 LLM calls",
        id="calls",
    ),
    pytest.param(
        {"tokens": 1000},
        {"spend": Spend(tokens=999)},
        {"spend": Spend(tokens=1000)},
        StopReason.MAX_TOKENS,
        "used 1000 of 1000 tokens",
        id="tokens",
    ),
    pytest.param(
        {"cost_usd": 0.5},
        {"spend": Spend(cost_usd=0.4999)},
        {"spend": Spend(cost_usd=0.5)},
        StopReason.MAX_COST,
        "spent $0.5000 of $0.5000",
        id="cost",
    ),
    pytest.param(
        {"minutes": 1.5},
        {"elapsed_s": 89.9},
        {"elapsed_s": 90.0},
        StopReason.MAX_SECONDS,
        "ran 90.0 s of 90.0 s",
        id="minutes",
    ),
]


@pytest.mark.parametrize(("budget", "below", "at", "reason", "detail"), LIMITS)
def test_each_limit_stops_before_an_iteration(
    budget: dict[str, Any], below: dict[str, Any], at: dict[str, Any], reason: StopReason, detail: str
) -> None:
    assert tracker(budget, **below).before_iteration() is None
    assert tracker(budget, **at).before_iteration() == (reason, detail)


@pytest.mark.parametrize(("budget", "below", "at", "reason", "detail"), LIMITS)
def test_a_limit_is_only_judged_before_an_iteration(
    budget: dict[str, Any], below: dict[str, Any], at: dict[str, Any], reason: StopReason, detail: str
) -> None:
    spent = tracker(budget, **at)
    spent.best_history = [0.1, 0.2]
    assert spent.after_iteration() is None  # spending decides whether to start one, not how it went


def test_overspending_still_stops_and_says_how_much() -> None:
    t = tracker({"calls": 5, "tokens": 100}, spend=Spend(calls=7, tokens=250))
    assert t.calls_left() == 0
    assert t.before_iteration() == (StopReason.MAX_CALLS, "used 7 of 5 LLM calls")
    t = tracker({"tokens": 100}, spend=Spend(calls=7, tokens=250))
    assert t.before_iteration() == (StopReason.MAX_TOKENS, "used 250 of 100 tokens")


def test_no_limit_never_stops_a_search() -> None:
    t = tracker({}, iterations=10_000, spend=Spend(calls=10**6, tokens=10**9, cost_usd=1e6), elapsed_s=1e7)
    t.best_history = [0.5] * 50
    assert t.before_iteration() is None and t.after_iteration() is None
    assert t.calls_left() is None and t.seconds_left() is None


def test_iterations_are_bounded_by_default() -> None:
    default = Budget()
    assert default.iterations is not None
    t = BudgetTracker(default, iterations=default.iterations)
    assert t.before_iteration() == (StopReason.MAX_ITERATIONS, f"ran {default.iterations} iterations")


def test_calls_and_seconds_left() -> None:
    t = tracker({"calls": 10, "minutes": 2}, spend=Spend(calls=3), elapsed_s=30.0)
    assert t.calls_left() == 7
    assert t.seconds_left() == pytest.approx(90.0)
    t.elapsed_s = 500.0
    assert t.seconds_left() == 0.0


def test_target_reached_after_an_iteration() -> None:
    t = tracker({"target": 0.8})
    assert t.after_iteration() is None  # nothing ran yet
    t.best_history = [None]
    assert t.after_iteration() is None  # nothing scored yet
    t.best_history = [None, 0.79]
    assert t.after_iteration() is None
    t.best_history = [None, 0.79, 0.8]
    assert t.after_iteration() == (StopReason.TARGET_REACHED, "best score 0.8 >= target 0.8")
    t.best_history = [1.25]
    assert t.after_iteration() == (StopReason.TARGET_REACHED, "best score 1.25 >= target 0.8")


def test_reaching_the_target_wins_over_convergence() -> None:
    t = tracker({"target": 0.5, "patience": 1})
    t.best_history = [0.5, 0.5]
    assert t.after_iteration() == (StopReason.TARGET_REACHED, "best score 0.5 >= target 0.5")


@pytest.mark.parametrize(
    ("history", "stops"),
    [
        ([0.5, 0.52], False),  # not yet `patience` iterations after the first
        ([0.5, 0.52, 0.54], True),  # gained 0.04 < 0.05 over the last 2
        ([0.5, 0.52, 0.56], False),  # gained 0.06
        ([0.1, 0.5, 0.52, 0.54], True),  # only the last `patience` iterations count
        ([0.3, 0.3, 0.3, 0.36], False),
    ],
)
def test_convergence_is_a_gain_below_min_delta_over_patience_iterations(
    history: list[float], stops: bool
) -> None:
    t = tracker({"patience": 2, "min_delta": 0.05})
    t.best_history = history
    expected = (StopReason.CONVERGED, f"no gain >= 0.05 over 2 iterations (best {history[-1]:.6g})")
    assert t.after_iteration() == (expected if stops else None)


def test_without_min_delta_any_gain_keeps_the_search_going() -> None:
    t = tracker({"patience": 2})
    t.best_history = [0.5, 0.5, 0.5001]
    assert t.after_iteration() is None
    t.best_history = [0.5, 0.5001, 0.5001, 0.5001]
    assert t.after_iteration() == (StopReason.CONVERGED, "no gain >= 0 over 2 iterations (best 0.5001)")


def test_without_patience_a_search_never_converges() -> None:
    t = tracker({"min_delta": 0.5})
    t.best_history = [0.2] * 20
    assert t.after_iteration() is None
    t.best_history = [None] * 20
    assert t.after_iteration() is None


def test_converges_when_nothing_scored_for_longer_than_patience() -> None:
    t = tracker({"patience": 2})
    t.best_history = [None, None]
    assert t.after_iteration() is None
    t.best_history = [None, None, None]
    assert t.after_iteration() == (StopReason.CONVERGED, "no scored hypothesis after 3 iterations")


def test_a_first_score_within_patience_is_progress() -> None:
    t = tracker({"patience": 2, "min_delta": 0.1})
    t.best_history = [None, None, 0.01]  # nothing to compare it with: not converged
    assert t.after_iteration() is None
    t.best_history = [None, 0.01, 0.01]
    assert t.after_iteration() is None
    t.best_history = [None, 0.01, 0.01, 0.01]
    assert t.after_iteration() == (StopReason.CONVERGED, "no gain >= 0.1 over 2 iterations (best 0.01)")
