"""Multi-objective selection: the Pareto front over the score and a task's further objectives.

A task names its objectives besides the score (`Task.objectives`: verdict metrics by name, each to
maximise or minimise), so nothing reads meaning into metric names. A candidate is on the front when no
other candidate is at least as good on every objective and better on one (GEPA keeps such a front, so that
a short program and a high-scoring one both stay parents). With `selection: pareto`, `evolve` draws an
island's parent from its front and records the front in each child's meta (`pareto_front`), so the records
show which candidates were on it when each child was bred; `pareto_front` recomputes it from any records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from agent.kernel.task import Objective
from agent.search.archive import rank_key
from agent.search.entries import Entry, facts

PARETO_FRONT = "pareto_front"
MAX_RECORDED_FRONT = 32  # a child's meta names at most this many front members (the best by score)


def objective_vector(entry: Entry, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    """The candidate's objectives, each turned so that larger is better (the score first); None when it
    lacks one (unscored, or a metric missing or not finite): such a candidate is on no front."""
    f = facts(entry)
    if f.score is None:
        return None
    values = [f.score]
    for objective in objectives:
        value = f.metrics.get(objective.name)
        if value is None or not math.isfinite(value):
            return None
        values.append(value if objective.direction == "max" else -value)
    return tuple(values)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether `a` is at least as good as `b` on every objective and better on one."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def pareto_front(entries: Sequence[Entry], objectives: Sequence[Objective]) -> list[Entry]:
    """The non-dominated candidates of `entries` (one per id), best score first. Quadratic in the number
    of candidates, which an island's members keep small."""
    unique: dict[str, tuple[Entry, tuple[float, ...]]] = {}
    for entry in entries:
        vector = objective_vector(entry, objectives)
        if vector is not None:
            unique.setdefault(facts(entry).id, (entry, vector))
    candidates = list(unique.values())
    front = [e for e, v in candidates if not any(dominates(w, v) for _, w in candidates)]
    return sorted(front, key=rank_key, reverse=True)
