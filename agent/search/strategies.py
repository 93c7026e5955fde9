"""Search strategies: which earlier hypotheses (with their feedback) seed the next prompt.

A strategy plans each iteration's prompts (`Strategy.plan`); the orchestrator does everything else, so
strategies stay comparable: the same calls, seeds and budget, differing only in what the model is shown.
`refine` and `evolve` also give each candidate that failed one repair prompt (agent/search/repair.py).
"""

from __future__ import annotations

import random
from typing import Protocol

from agent.kernel.records import RecordedHypothesis
from agent.kernel.registry import Registry
from agent.kernel.task import Task
from agent.search.archive import Archive, rank_key
from agent.search.edits import EDIT_INSTRUCTIONS
from agent.search.entries import Entry, facts
from agent.search.islands import ISLAND, Population, build_population, diverse, pick_by_rank
from agent.search.pareto import MAX_RECORDED_FRONT, PARETO_FRONT, pareto_front
from agent.search.plan import Plan, plain_plan
from agent.search.prompts import build_population_messages
from agent.search.repair import REPAIR_OF, failures, repair_plans
from agent.search.repeats import repeat_notes
from agent.search.settings import SearchSettings

__all__ = ["REPAIR_OF", "STRATEGIES", "BestOfN", "Evolve", "Refine", "Strategy", "make_strategy"]


class Strategy(Protocol):
    """What the loop asks of a strategy: the plan of each iteration (its prompts, the parents they name,
    what the children record). Strategies that only choose parents inherit it from `ParentChooser`."""

    name: str
    description: str

    def plan(
        self, archive: Archive, settings: SearchSettings, iteration: int, rng: random.Random, task: Task
    ) -> Plan: ...


class ParentChooser:
    """A strategy that only chooses the parents shown; its plan is the plain one (one prompt for every
    sample), so subclasses differ in nothing but `select_parents`."""

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        raise NotImplementedError

    def plan(
        self, archive: Archive, settings: SearchSettings, iteration: int, rng: random.Random, task: Task
    ) -> Plan:
        parents = self.select_parents(archive, settings.top_k, rng)
        return plain_plan(task.system_prompt, task.instructions, parents, archive.entries)


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


@STRATEGIES.register("best-of-n")
class BestOfN(ParentChooser):
    """Independent samples every iteration, no feedback: the baseline every other strategy must beat.

    Where the task starts from a seed program, every prompt shows that same seed (the starting point of
    every strategy) and nothing the search found since, so the samples stay independent."""

    name = "best-of-n"
    description = "independent samples each iteration, no feedback (baseline)"

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        return [archive.record(e) for e in [e for e in archive.entries if facts(e).seed][:k]]


@STRATEGIES.register("refine")
class Refine(ParentChooser):
    """Eureka-style reflection: the best so far and its verifier feedback seed the next prompt."""

    name = "refine"
    description = "the best hypotheses so far and their feedback seed the next prompt (Eureka)"

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        return archive.top(k)

    def plan(
        self, archive: Archive, settings: SearchSettings, iteration: int, rng: random.Random, task: Task
    ) -> Plan:
        """The plain plan, with one repair prompt for each candidate of the last iteration that failed
        (agent/search/repair.py)."""
        plain = super().plan(archive, settings, iteration, rng, task)
        failed = (
            failures(archive.latest_iteration(), archive.meta_values(REPAIR_OF)) if settings.repair else []
        )
        repairs = repair_plans(
            failed, history=archive.entries, system_prompt=task.system_prompt,
            instructions=task.instructions, samples=settings.samples, meta={}, record=archive.record,
        )  # fmt: skip
        return Plan(plain.messages, plain.parent_ids, repairs=repairs)


@STRATEGIES.register("evolve")
class Evolve:
    """A population search (FunSearch/OpenEvolve): islands bred in turn, periodic migration, a parent drawn
    by rank within its island, and a prompt that shows the parent, the island's best and a few programs
    that behave differently, so distinct solutions stay alive where `refine` greedily exploits one.

    A candidate that failed gets one repair prompt in its island's next iteration (agent/search/repair.py);
    with `selection: pareto` the parent comes from the island's Pareto front (agent/search/pareto.py).
    The population is rebuilt from the archive every iteration (agent/search/islands.py), so a resumed
    search continues with the same islands, migrations and repairs."""

    name = "evolve"
    description = "islands with migration, rank or Pareto selection, diverse examples, optional diff edits"
    temperature = 2.0  # of `select_parents`, which has no settings

    def select_parents(self, archive: Archive, k: int, rng: random.Random) -> list[RecordedHypothesis]:
        """k distinct hypotheses of the whole archive, each drawn by rank (see `pick_by_rank`)."""
        ranked = sorted({facts(e).id: e for e in archive.entries}.values(), key=rank_key, reverse=True)
        parents: list[Entry] = []
        while ranked and len(parents) < k:
            winner = pick_by_rank(ranked, self.temperature, rng)
            assert winner is not None
            parents.append(winner)
            ranked.remove(winner)
        return [archive.record(p) for p in parents]

    def plan(
        self, archive: Archive, settings: SearchSettings, iteration: int, rng: random.Random, task: Task
    ) -> Plan:
        population = build_population(archive.entries, settings.islands, settings.migration_interval)
        island = population.island_for(iteration)
        ranked = population.ranked(island)
        front = pareto_front(ranked, task.objectives) if settings.selection == "pareto" else []
        if front:  # the front leads: its members are the parents and the first shown
            ids = {facts(e).id for e in front}
            ranked = front + [e for e in ranked if facts(e).id not in ids]
        parent = pick_by_rank(front or ranked, settings.selection_temperature, rng)
        top = [e for e in ranked if parent is None or facts(e).id != facts(parent).id]
        top = top[: settings.top_k]
        shown = ([parent] if parent is not None else []) + top
        others = diverse(ranked, shown, settings.diverse_k, rng)
        diff = settings.edits == "diff" and parent is not None
        whole = archive.record  # only what the prompt shows is read whole
        parent_record = whole(parent) if parent is not None else None
        messages = build_population_messages(
            task.system_prompt,
            task.instructions,
            parent=parent_record,
            top=[whole(e) for e in top],
            others=[whole(e) for e in others],
            failed_edits=[],
            edit_instructions=EDIT_INSTRUCTIONS if diff else None,
            notes=repeat_notes(shown + others, archive.entries),
        )
        meta: dict[str, object] = {ISLAND: island}
        if settings.selection == "pareto":
            meta[PARETO_FRONT] = [facts(e).id for e in front[:MAX_RECORDED_FRONT]]
        failed = (
            failures(last_of_island(archive, island), archive.meta_values(REPAIR_OF))
            if settings.repair
            else []
        )
        repairs = repair_plans(
            failed, history=archive.entries,
            system_prompt=task.system_prompt, instructions=task.instructions, samples=settings.samples,
            meta=meta, diff=settings.edits == "diff", parent_of=lambda e: parent_in(population, island, e),
            record=whole,
        )  # fmt: skip
        return Plan(
            messages,
            tuple(facts(e).id for e in shown + others),  # the parent first
            meta,
            edit_base=parent_record.hypothesis.content if diff and parent_record is not None else None,
            repairs=repairs,
        )


def last_of_island(archive: Archive, island: int) -> list[Entry]:
    """What the island bred in the last iteration it was bred in (its repairs come next)."""
    own = [e for e in archive.entries if facts(e).island == island]
    if not own:
        return []
    last = max(facts(e).iteration for e in own)
    return [e for e in own if facts(e).iteration == last]


def parent_in(population: Population, island: int, entry: RecordedHypothesis) -> Entry | None:
    """The island member a failed edit was meant for (its first parent)."""
    if not entry.hypothesis.parent_ids:
        return None
    return population.members[island].get(entry.hypothesis.parent_ids[0])


def make_strategy(name: str) -> Strategy:
    return STRATEGIES.get(name)()
