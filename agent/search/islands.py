"""The population of an evolve search: islands, migration, rank selection and behavioural diversity.

Everything here is a pure function of the recorded hypotheses, so a resumed search rebuilds exactly the
population it had (islands, migrants, migration count) from the store, with nothing else to save:
- iteration t works on island (t - 1) mod N; its children record `meta["island"]`, so a hypothesis belongs
  to the island of the parent it was bred from, and a root (an island with nothing in it yet) lands on the
  islands in turn;
- the task's seed candidates (iteration 0) belong to every island, the common starting point;
- after every `migration_interval`-th iteration the best of each island is copied to the next one (all
  islands at once, from the population as it was), as FunSearch/OpenEvolve do to spread good building
  blocks without collapsing every island onto one lineage.
Near-duplicates and edits that did not apply are not members: they carry nothing a parent could give.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.search.archive import rank_key
from agent.search.entries import ABSENT, EDIT_ERROR, ISLAND, Entry, facts

__all__ = ["EDIT_ERROR", "ISLAND", "Population", "build_population", "diverse", "pick_by_rank", "signature"]


@dataclass(frozen=True)
class Migration:
    after_iteration: int
    source: int
    target: int
    hypothesis_id: str


@dataclass
class Population:
    islands: int
    members: list[dict[str, Entry]]  # per island: id -> entry, in order of joining
    migrations: list[Migration] = field(default_factory=list)

    def island_for(self, iteration: int) -> int:
        return (iteration - 1) % self.islands

    def ranked(self, island: int) -> list[Entry]:
        """The island's members, best first (scored before unscored)."""
        return sorted(self.members[island].values(), key=rank_key, reverse=True)


def island_of(entry: Entry, islands: int) -> int | None:
    """The island recorded in a hypothesis's meta; None for a seed (every island's) or foreign records."""
    f = facts(entry)
    value = f.island
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < islands:
        return value
    if f.iteration == 0:
        return None
    return (f.iteration - 1) % islands  # a record from before islands: by its iteration


def _member(entry: Entry) -> bool:
    f = facts(entry)
    return not f.near_duplicate_of and f.edit_error is ABSENT


def build_population(entries: Sequence[Entry], islands: int, migration_interval: int) -> Population:
    """Replay the archive iteration by iteration, migrating on schedule (see the module's docstring)."""
    population = Population(islands, [{} for _ in range(islands)])
    by_iteration: dict[int, list[Entry]] = {}
    for entry in entries:
        by_iteration.setdefault(facts(entry).iteration, []).append(entry)
    for iteration in sorted(by_iteration):
        for entry in by_iteration[iteration]:
            if not _member(entry):
                continue
            home = island_of(entry, islands)
            for island in range(islands) if home is None else (home,):
                population.members[island].setdefault(facts(entry).id, entry)
        if migration_interval and iteration > 0 and iteration % migration_interval == 0 and islands > 1:
            _migrate(population, iteration)
    return population


def _migrate(population: Population, iteration: int) -> None:
    bests = []
    for island in range(population.islands):
        scored = [e for e in population.ranked(island) if facts(e).score is not None]
        bests.append(scored[0] if scored else None)
    for island, best in enumerate(bests):
        if best is None:
            continue
        target = (island + 1) % population.islands
        hid = facts(best).id
        population.migrations.append(Migration(iteration, island, target, hid))
        population.members[target].setdefault(hid, best)


def pick_by_rank(ranked: Sequence[Entry], temperature: float, rng: random.Random) -> Entry | None:
    """One of `ranked` (best first), drawn with weight exp(-rank / temperature): a low temperature
    exploits the best, a high one explores the whole island. Ranks, not scores, so the draw does not
    depend on the score's scale (a loss's accuracy, a packing's radii sum)."""
    if not ranked:
        return None
    weights = [math.exp(-rank / temperature) for rank in range(len(ranked))]
    return rng.choices(list(ranked), weights=weights, k=1)[0]


def signature(entry: Entry) -> tuple[object, ...]:
    """What a candidate does, coarsely: its status and its metrics (per-test or per-seed outcomes, reward
    components) rounded, or its score where it reports none. Equal signatures mean the same behaviour."""
    f = facts(entry)
    metrics = tuple(sorted((k, round(v, 3)) for k, v in f.metrics.items()))
    score = None if f.score is None else round(f.score, 3)
    return (f.status.value, metrics) if metrics else (f.status.value, score)


def diverse(ranked: Sequence[Entry], shown: Sequence[Entry], k: int, rng: random.Random) -> list[Entry]:
    """Up to k members that behave unlike everything already shown: the best of each other behaviour
    (signature), k of those drawn at random, so distinct solutions stay in view though they score less."""
    taken = {signature(e) for e in shown}
    ids = {facts(e).id for e in shown}
    leaders: dict[tuple[object, ...], Entry] = {}
    for entry in ranked:  # best first: the first of each signature leads it
        if facts(entry).id not in ids and signature(entry) not in taken:
            leaders.setdefault(signature(entry), entry)
    pool = list(leaders.values())
    chosen = rng.sample(pool, min(k, len(pool)))
    return sorted(chosen, key=rank_key, reverse=True)
