"""Search strategies: which earlier hypotheses (with their feedback) seed the next prompt.

A strategy only chooses parents; the orchestrator does everything else, so strategies stay comparable:
the same calls, seeds and budget, differing only in what the model is shown.
"""

from __future__ import annotations

import random
from typing import Protocol

from agent.kernel.records import RecordedHypothesis
from agent.kernel.registry import Registry
from agent.search.archive import Archive, rank_key


class Strategy(Protocol):
    name: str
    description: str

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]: ...


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


@STRATEGIES.register("best-of-n")
class BestOfN:
    """Independent samples every iteration, no feedback: the baseline every other strategy must beat.

    Where the task starts from a seed program, every prompt shows that same seed (the starting point of
    every strategy) and nothing the search found since, so the samples stay independent."""

    name = "best-of-n"
    description = "independent samples each iteration, no feedback (baseline)"

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        return [e for e in archive.entries if e.hypothesis.meta.get("seed")][:k]


@STRATEGIES.register("refine")
class Refine:
    """Eureka-style reflection: the best so far and its verifier feedback seed the next prompt."""

    name = "refine"
    description = "the best hypotheses so far and their feedback seed the next prompt (Eureka)"

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        return archive.top(k)


@STRATEGIES.register("evolve")
class Evolve:
    """Tournament selection over the whole archive: keeps diversity where `refine` greedily exploits."""

    name = "evolve"
    description = "parents drawn by tournament from the whole archive (keeps diversity)"
    tournament = 3

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        pool = {e.hypothesis.id: e for e in archive.entries}  # one entry per distinct hypothesis
        candidates = list(pool.values())
        parents: list[RecordedHypothesis] = []
        while candidates and len(parents) < k:
            contenders = rng.sample(candidates, min(self.tournament, len(candidates)))
            winner = max(contenders, key=rank_key)
            parents.append(winner)
            candidates.remove(winner)
        return parents


def make_strategy(name: str) -> Strategy:
    return STRATEGIES.get(name)()
