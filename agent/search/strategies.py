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
from agent.search.edits import EDIT_INSTRUCTIONS
from agent.search.islands import (
    EDIT_ERROR,
    ISLAND,
    Population,
    build_population,
    diverse,
    pick_by_rank,
)
from agent.search.plan import Plan
from agent.search.prompts import build_population_messages
from agent.search.settings import SearchSettings

REPAIR_OF = "repair_of"


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
    """A population search (FunSearch/OpenEvolve): islands bred in turn, periodic migration, a parent drawn
    by rank within its island, and a prompt that shows the parent, the island's best and a few programs
    that behave differently, so distinct solutions stay alive where `refine` greedily exploits one.

    The population is rebuilt from the archive every iteration (agent/search/islands.py), so a resumed
    search continues with the same islands and migrations."""

    name = "evolve"
    description = "islands with migration, rank selection, diverse examples, optional diff edits"
    temperature = 2.0  # of `select_parents`, which has no settings

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        """k distinct hypotheses of the whole archive, each drawn by rank (see `pick_by_rank`)."""
        ranked = sorted({e.hypothesis.id: e for e in archive.entries}.values(), key=rank_key, reverse=True)
        parents: list[RecordedHypothesis] = []
        while ranked and len(parents) < k:
            winner = pick_by_rank(ranked, self.temperature, rng)
            assert winner is not None
            parents.append(winner)
            ranked.remove(winner)
        return parents

    def plan(
        self,
        archive: Archive,
        settings: SearchSettings,
        iteration: int,
        rng: random.Random,
        system_prompt: str,
        instructions: str,
    ) -> Plan:
        population = build_population(archive.entries, settings.islands, settings.migration_interval)
        island = population.island_for(iteration)
        ranked = population.ranked(island)
        failed, repair_parent = pending_repairs(archive, population, island)
        parent = repair_parent or pick_by_rank(ranked, settings.selection_temperature, rng)
        top = [e for e in ranked if parent is None or e.hypothesis.id != parent.hypothesis.id]
        top = top[: settings.top_k]
        shown = ([parent] if parent is not None else []) + top
        others = diverse(ranked, shown, settings.diverse_k, rng)
        diff = settings.edits == "diff" and parent is not None
        messages = build_population_messages(
            system_prompt,
            instructions,
            parent=parent,
            top=top,
            others=others,
            failed_edits=failed,
            edit_instructions=EDIT_INSTRUCTIONS if diff else None,
        )
        meta: dict[str, object] = {ISLAND: island}
        if repair_parent is not None:
            meta[REPAIR_OF] = failed[0].hypothesis.id
        return Plan(
            messages,
            tuple(e.hypothesis.id for e in shown + others),  # the parent first
            meta,
            edit_base=parent.hypothesis.content if diff and parent is not None else None,
        )


def pending_repairs(
    archive: Archive, population: Population, island: int
) -> tuple[list[RecordedHypothesis], RecordedHypothesis | None]:
    """The edits of the island's last iteration that could not be applied, and the parent they were
    meant for when it should be edited again (once: a failed repair is shown, not retried again)."""
    own = [e for e in archive.entries if e.hypothesis.meta.get(ISLAND) == island]
    if not own:
        return [], None
    last = max(e.hypothesis.iteration for e in own)
    failed = [e for e in own if e.hypothesis.iteration == last and e.hypothesis.meta.get(EDIT_ERROR)]
    if not failed or REPAIR_OF in failed[0].hypothesis.meta or not failed[0].hypothesis.parent_ids:
        return failed, None
    return failed, population.members[island].get(failed[0].hypothesis.parent_ids[0])


def make_strategy(name: str) -> Strategy:
    return STRATEGIES.get(name)()
