"""The inner loop of a two-level reward search: tune a candidate's TUNABLE constants before its verdict.

The model proposes the reward's shape and marks its numeric knobs tunable; this module spends a small budget
of trainings on them, so a good reward is not judged by a bad guess of a weight. Each trial is one sandbox
job on the tuning seeds (never the search or held-out seeds), scored on the host by the problem's own success
measure. Rounds run `concurrency` trials at once (the sandbox pool's width): the first holds the written
values and random points; later ones sample around the best so far with a radius that halves each round.
Sampling is seeded from the source's hash and training is deterministic, so tuning the same source twice
gives the same values; a per-source memo lets the held-out verifier reuse the search's tuning, and after a
resume in a new process it simply tunes again to the same result.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agent.kernel.types import Verdict, content_id
from verifiers.reward.problem import HELD_OUT_SEEDS, SEARCH_SEEDS, TUNING_SEEDS, RewardProblem
from verifiers.reward.tunable import Tunable


class RewardTrainer(Protocol):
    """What the tuner needs of an evaluator: its setup, and one training with constants set."""

    problem: RewardProblem
    randomise: dict[str, list[float]] | None

    async def train(
        self, source: str, seeds: Sequence[int] | None = None, *, constants: dict[str, float] | None = None
    ) -> tuple[Verdict, Any]: ...


#: trainings per candidate, the written values included
DEFAULT_BUDGET = 6
#: a trial must beat the written values by more than this (mean success) to replace them: one tuning seed
#: is noisy, and keeping what the model wrote is the better default than tuning into noise
MIN_GAIN = 0.02
FIRST_RADIUS = 0.25


@dataclass(frozen=True)
class Trial:
    """One training with some values of the constants; `score` is None when it failed (and why)."""

    values: tuple[tuple[str, float], ...]
    score: float | None
    status: str
    written: bool = False


@dataclass(frozen=True)
class Tuning:
    """The trials of one tuning and the values chosen (the written ones unless a trial clearly beat them)."""

    tunables: tuple[Tunable, ...]
    seeds: tuple[int, ...]
    trials: tuple[Trial, ...]
    wall_s: float

    @property
    def written(self) -> Trial:
        return self.trials[0]

    @property
    def best(self) -> Trial:
        """The chosen trial: the best scorer, if it beats the written values by more than MIN_GAIN."""
        if self.written.score is None:
            return self.written
        scored = [t for t in self.trials[1:] if t.score is not None]
        top = max(scored, key=lambda t: t.score or 0.0, default=None)  # max keeps the first of equals
        if top is not None and top.score is not None and top.score > self.written.score + MIN_GAIN:
            return top
        return self.written

    @property
    def constants(self) -> dict[str, float] | None:
        """What the final training sets in the candidate's namespace; None keeps the code as written."""
        best = self.best
        return None if best.written else dict(best.values)

    @property
    def gain(self) -> float:
        best, written = self.best, self.written
        return 0.0 if best.score is None or written.score is None else best.score - written.score


def _to_unit(t: Tunable, value: float) -> float:
    if t.log_scale:
        return (math.log(value) - math.log(t.low)) / (math.log(t.high) - math.log(t.low))
    return (value - t.low) / (t.high - t.low)


def _from_unit(t: Tunable, u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    raw = (
        math.exp(math.log(t.low) + u * (math.log(t.high) - math.log(t.low)))
        if t.log_scale
        else (t.low + u * (t.high - t.low))
    )
    return min(max(float(f"{raw:.4g}"), t.low), t.high)  # 4 significant digits: readable, exact to restate


class Tuner:
    """Tunes sources' TUNABLE constants; one instance is shared by a task's search and held-out verifiers."""

    def __init__(
        self,
        *,
        seeds: Sequence[int] = TUNING_SEEDS,
        budget: int = DEFAULT_BUDGET,
        concurrency: int = 2,
    ) -> None:
        if set(seeds) & (set(SEARCH_SEEDS) | set(HELD_OUT_SEEDS)):
            raise ValueError("tuning seeds must differ from the search and the held-out seeds")
        if budget < 1 or concurrency < 1:
            raise ValueError("the tuning budget and concurrency must be positive")
        self.seeds = tuple(seeds)
        self.budget = budget
        self.concurrency = concurrency
        self._memo: dict[str, Tuning] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def plan(self) -> tuple[tuple[int, ...], int, int]:
        """What a tuning's outcome depends on besides the evaluator and the source."""
        return self.seeds, self.budget, self.concurrency

    def _key(self, evaluator: RewardTrainer, source: str) -> str:
        """Everything a tuning's outcome depends on (the held-out evaluator shares it with the search's)."""
        setup = [evaluator.problem.name, evaluator.problem.trainer_config, evaluator.randomise]
        plan = list(self.plan())
        return content_id(json.dumps([setup, plan, source], sort_keys=True))

    def _lock(self, key: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # locks belong to one event loop; tests run several in turn
            self._locks, self._loop = {}, loop
        return self._locks.setdefault(key, asyncio.Lock())

    async def tune(self, evaluator: RewardTrainer, source: str, tunables: Sequence[Tunable]) -> Tuning:
        """The (memoised) tuning of `source`: concurrent callers for one source wait for a single run."""
        key = self._key(evaluator, source)
        async with self._lock(key):
            if key not in self._memo:
                self._memo[key] = await self._run(evaluator, source, tuple(tunables))
            return self._memo[key]

    async def _run(self, evaluator: RewardTrainer, source: str, tunables: tuple[Tunable, ...]) -> Tuning:
        started = time.monotonic()
        rng = np.random.default_rng(int(content_id(source), 16))
        written = tuple((t.name, t.written) for t in tunables)
        trials: list[Trial] = []
        for round_no in range(math.ceil(self.budget / self.concurrency)):
            width = min(self.concurrency, self.budget - len(trials))
            points = [written] if round_no == 0 else []
            while len(points) < width:
                points.append(self._propose(rng, tunables, trials, round_no))
            results = await asyncio.gather(
                *(self._trial(evaluator, source, p, written=p is written) for p in points)
            )
            trials.extend(results)
            if trials[0].score is None:  # the code as written fails: no point in tuning it
                break
        wall = time.monotonic() - started
        return Tuning(tunables=tunables, seeds=self.seeds, trials=tuple(trials), wall_s=wall)

    def _propose(
        self, rng: np.random.Generator, tunables: tuple[Tunable, ...], trials: list[Trial], round_no: int
    ) -> tuple[tuple[str, float], ...]:
        """A random point while nothing has succeeded yet; else one near the best with a shrinking radius."""
        scored = [t for t in trials if t.score is not None]
        best = max(scored, key=lambda t: t.score or 0.0, default=None)
        if best is None or not best.score:
            return tuple((t.name, _from_unit(t, rng.uniform())) for t in tunables)
        radius = FIRST_RADIUS * 0.5 ** (round_no - 1)
        centre = dict(best.values)
        moved = [(t, _to_unit(t, centre[t.name]) + rng.uniform(-radius, radius)) for t in tunables]
        return tuple((t.name, _from_unit(t, u)) for t, u in moved)

    async def _trial(
        self, evaluator: RewardTrainer, source: str, values: tuple[tuple[str, float], ...], *, written: bool
    ) -> Trial:
        constants = None if written else dict(values)
        verdict, trained = await evaluator.train(source, self.seeds, constants=constants)
        score = None if trained is None else trained.score
        return Trial(values=values, score=score, status=verdict.status.value, written=written)


def _values_text(values: tuple[tuple[str, float], ...]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in values)


def with_tuning(verdict: Verdict, tuning: Tuning) -> Verdict:
    """The final verdict with the tuning's outcome added to its feedback and metrics."""
    best = tuning.best
    seeds = list(tuning.seeds)
    lines = [f"Tuned constants ({len(tuning.trials)} trainings on tuning seeds {seeds}, mean success):"]
    if tuning.written.score is None:
        lines.append(
            f"  tuning stopped: your code failed with its written values ({tuning.written.status}), "
            "so the verdict above is for the written values."
        )
    else:
        kept = "" if not best.written else f" (no trial beat the written values by more than {MIN_GAIN:g})"
        lines.append(f"  the training above used these values{kept}:")
        for (name, written), (_, tuned) in zip(tuning.written.values, best.values, strict=True):
            lines.append(f"  {name}: written {written:g} -> tuned {tuned:g}")
    lines.append("  trials (values -> tuning success):")
    for trial in tuning.trials:
        outcome = f"{trial.score:.2f}" if trial.score is not None else f"failed ({trial.status})"
        tag = " (written)" if trial.written else ""
        tag += " (chosen)" if trial is best and tuning.written.score is not None else ""
        lines.append(f"    {_values_text(trial.values)} -> {outcome}{tag}")
    lines.append("  To build on tuned values, write them into your code; keep TUNABLE to tune them again.")
    metrics = dict(verdict.metrics)
    metrics.update({f"tuned_{name}": value for name, value in best.values})
    metrics["tuning_trials"] = float(len(tuning.trials))
    metrics["tuning_failed"] = float(sum(t.score is None for t in tuning.trials))
    metrics["tuning_gain"] = tuning.gain
    metrics["tuning_wall_s"] = tuning.wall_s
    feedback = verdict.feedback + "\n\n" + "\n".join(lines)
    return verdict.model_copy(update={"feedback": feedback, "metrics": metrics})
