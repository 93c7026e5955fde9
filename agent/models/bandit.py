"""Which member of a model ensemble answers a request: fixed weights, or Thompson sampling on improvement.

Pure functions over the search's recorded history, so a choice depends only on the request's seed and on
what the store holds: a resumed run, which replays the recorded completions and rebuilds the same history,
makes the same choices as an uninterrupted one.

A call *wins* when its answer scored above the best score of every earlier iteration (the improvement of
the best score the issue asks for). Thompson sampling draws each member's win rate from its Beta posterior
and asks the member with the highest draw (per call), or the highest draw per dollar of its mean cost per
call (`thompson-cost`, once every member has a known, non-zero cost).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.kernel.records import RecordedHypothesis

#: how requests are split between the members of an ensemble (RunConfig `model_split`)
SPLITS = ("weights", "thompson", "thompson-cost")


@dataclass(frozen=True)
class ArmStats:
    """What one member did so far in a search: its calls, how many improved the best score, their cost."""

    calls: int = 0
    wins: int = 0
    cost_usd: float = 0.0

    def mean_cost(self) -> float | None:
        return self.cost_usd / self.calls if self.calls and self.cost_usd > 0 else None


def arm_stats(
    history: Sequence[RecordedHypothesis], costs: Mapping[tuple[int, int], float], arms: Sequence[str]
) -> dict[str, ArmStats]:
    """Each arm's record in `history` (hypotheses by their `model`; `costs` by (iteration, sample)).

    Iterations are taken in order and judged against the best of the iterations before them, so answers of
    one iteration (sampled together, from the same prompt) do not judge each other.
    """
    calls = dict.fromkeys(arms, 0)
    wins = dict.fromkeys(arms, 0)
    spent = dict.fromkeys(arms, 0.0)
    best: float | None = None
    ordered = sorted(history, key=lambda e: (e.hypothesis.iteration, e.sample))
    for _, group in itertools.groupby(ordered, key=lambda e: e.hypothesis.iteration):
        members = list(group)
        for e in members:
            arm = e.hypothesis.model
            if arm not in calls:
                continue  # a seed candidate, or a model no longer in the ensemble
            calls[arm] += 1
            score = e.verdict.score
            wins[arm] += score is not None and (best is None or score > best)
            spent[arm] += costs.get((e.hypothesis.iteration, e.sample), 0.0)
        scores = [e.verdict.score for e in members if e.verdict.score is not None]
        if scores:
            best = max(scores) if best is None else max(best, *scores)
    return {a: ArmStats(calls[a], wins[a], spent[a]) for a in arms}


def weighted_choice(arms: Sequence[str], weights: Sequence[float], rng: random.Random) -> str:
    """A member drawn in proportion to its weight."""
    return rng.choices(list(arms), weights=list(weights))[0]


def thompson_choice(
    stats: Mapping[str, ArmStats], arms: Sequence[str], rng: random.Random, *, per_dollar: bool = False
) -> str:
    """The member whose win rate, drawn from Beta(1 + wins, 1 + losses), is highest (per dollar when
    asked and every member's cost is known: comparing a priced member with an unpriced one would favour
    whichever has no price)."""
    draws = {a: rng.betavariate(1 + stats[a].wins, 1 + stats[a].calls - stats[a].wins) for a in arms}
    costs = {a: stats[a].mean_cost() for a in arms}
    if per_dollar and all(c is not None for c in costs.values()):
        draws = {a: draws[a] / costs[a] for a in arms}  # type: ignore[operator]
    return max(arms, key=lambda a: draws[a])  # the first listed wins a tie
