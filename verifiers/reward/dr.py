"""DrEureka's step: the model also proposes domain randomisation, judged on "real" dynamics it never sees.

A candidate defines `compute_reward` and a module-level `RANDOMISE = {"param": (low, high), ...}`. The ranges
are read from the source with `ast.literal_eval` (never by running it) and validated against the problem's
allowed bounds; training then draws each environment's physical parameters uniformly from them at every
episode start. The search verifier scores success in the nominal simulator; the held-out verifier scores
success on a fixed set of perturbed dynamics, and reports, on the same seeds and dynamics, how the same reward
does when trained without randomisation and how the environment's own reward does. TUNABLE constants
(`verifiers/reward/tunable.py`) are tuned with the candidate's randomisation, and both held-out trainings of
the candidate use the tuned values.
"""

from __future__ import annotations

import ast
import math
import sys
import time
from collections.abc import Mapping, Sequence

from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from verifiers.reward import dr_report
from verifiers.reward.dr_report import Transfer, comparison_metrics, comparison_text, measure
from verifiers.reward.evaluator import RewardEvaluator, Trained, require_ok
from verifiers.reward.problem import HELD_OUT_SEEDS, SEARCH_SEEDS, RewardProblem
from verifiers.reward.tunable import number_pair
from verifiers.reward.tuning import Tuner

RANDOMISE_NAME = "RANDOMISE"


DR_MODULES = (sys.modules[__name__], dr_report)


class RandomisationError(ValueError):
    """The RANDOMISE structure is missing or malformed; the message is for the model."""


def parse_randomisation(source: str, bounds: Mapping[str, tuple[float, float]]) -> dict[str, list[float]]:
    """The validated ranges from `RANDOMISE = {...}` in the source (an empty dict means no randomisation)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise RandomisationError(f"SyntaxError: {e.msg} (line {e.lineno})") from None
    except (MemoryError, RecursionError, ValueError) as e:  # nested too deep for the parser, NUL bytes
        raise RandomisationError(f"the code cannot be parsed ({type(e).__name__})") from None
    node = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == RANDOMISE_NAME for t in stmt.targets
        ):
            node = stmt.value
    if node is None:
        raise RandomisationError(f"define a module-level {RANDOMISE_NAME} = {{name: (low, high), ...}}")
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, MemoryError, RecursionError):  # TypeError: {[]: ...} is unhashable
        raise RandomisationError(
            f"{RANDOMISE_NAME} must be a literal dict of (low, high) number pairs"
        ) from None
    if not isinstance(value, dict):
        raise RandomisationError(f"{RANDOMISE_NAME} must be a dict")
    ranges: dict[str, list[float]] = {}
    for name, pair in value.items():
        if not isinstance(name, str) or name not in bounds:
            shown = repr(name)[:60]
            raise RandomisationError(f"unknown parameter {shown} (known: {', '.join(sorted(bounds))})")
        numbers = number_pair(pair)
        if numbers is None:
            raise RandomisationError(f"{name}: give a (low, high) pair of numbers, got {repr(pair)[:80]}")
        low, high = numbers
        lo_bound, hi_bound = bounds[name]
        if not (math.isfinite(low) and math.isfinite(high) and lo_bound <= low <= high <= hi_bound):
            raise RandomisationError(
                f"{name}: need {lo_bound:g} <= low <= high <= {hi_bound:g}, got ({low}, {high})"
            )
        ranges[name] = [low, high]
    return ranges


def describe_bounds(problem: RewardProblem, bounds: Mapping[str, tuple[float, float]]) -> str:
    return ", ".join(
        f"{name} (nominal {problem.sim.PARAMS[name]:g}, allowed [{lo:g}, {hi:g}])"
        for name, (lo, hi) in bounds.items()
    )


class DomainRandomisedEvaluator:
    """Search verifier: train with the candidate's reward and ranges; score success in the nominal sim."""

    def __init__(
        self,
        problem: RewardProblem,
        bounds: Mapping[str, tuple[float, float]],
        *,
        seeds: Sequence[int] = SEARCH_SEEDS,
        limits: Limits | None = None,
        sandbox: Sandbox | None = None,
        tuner: Tuner | None = None,
    ) -> None:
        self.problem = problem
        self.bounds = dict(bounds)
        self.seeds = tuple(seeds)
        self.name = f"reward-{problem.name}-dr"
        self.limits = limits
        self.tuner = tuner or Tuner()
        self._sandbox = sandbox
        #: the nominal evaluator's identity plus the ranges a candidate may choose from and this code
        self.version = fingerprint(self.evaluator(None).version, self.bounds, *DR_MODULES)

    def evaluator(self, randomise: dict[str, list[float]] | None) -> RewardEvaluator:
        return RewardEvaluator(
            self.problem,
            seeds=self.seeds,
            name=self.name,
            limits=self.limits,
            sandbox=self._sandbox,
            randomise=randomise or None,
            tuner=self.tuner,
        )

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        try:
            ranges = parse_randomisation(hypothesis.content, self.bounds)
        except RandomisationError as e:
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Bad domain randomisation: {e}")
        verdict, _, _ = await self.evaluator(ranges).train_tuned(hypothesis.content)
        shown = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in ranges.items()) or "none"
        feedback = f"Trained with domain randomisation: {shown}.\n{verdict.feedback}"
        return verdict.model_copy(update={"feedback": feedback, "duration_s": time.monotonic() - started})


class DomainRandomisedHeldOut:
    """Held-out: success on fixed perturbed dynamics (never shown), against two trainings without the ranges.

    On the same seeds and the same hidden dynamics it measures the candidate's reward trained with its
    ranges (the score), the same reward trained without them, and the environment's own reward trained
    without them (once per verifier, like RewardHeldOut's baselines): see `verifiers/reward/dr_report.py`.
    """

    def __init__(
        self,
        problem: RewardProblem,
        bounds: Mapping[str, tuple[float, float]],
        real_dynamics: Sequence[Mapping[str, float]],
        *,
        seeds: Sequence[int] = HELD_OUT_SEEDS,
        limits: Limits | None = None,
        sandbox: Sandbox | None = None,
        tuner: Tuner | None = None,
    ) -> None:
        self.problem = problem
        self.real_dynamics = [dict(problem.sim.PARAMS) | dict(d) for d in real_dynamics]
        self._dr = DomainRandomisedEvaluator(
            problem, bounds, seeds=seeds, limits=limits, sandbox=sandbox, tuner=tuner
        )
        self.name = f"reward-{problem.name}-dr-held-out"
        self._env: Transfer | None = None
        self.version = fingerprint(self._dr.version, self.real_dynamics)

    @property
    def tuner(self) -> Tuner:
        return self._dr.tuner

    @property
    def seeds(self) -> tuple[int, ...]:
        return self._dr.seeds

    async def _transfer(self, trained: Trained) -> Transfer:
        import asyncio

        return await asyncio.to_thread(
            measure,
            self.problem,
            self.real_dynamics,
            self.seeds,
            list(trained.per_seed.values()),
            trained.policies,
        )

    async def env_baseline(self) -> Transfer:
        """The environment's reward trained without randomisation on the held-out seeds (once; cached)."""
        if self._env is None:
            verdict, trained = await self._dr.evaluator(None).train(self.problem.env_reward)
            require_ok(verdict, f"the environment's reward of {self.problem.name}")
            assert trained is not None  # require_ok checked it trained
            self._env = await self._transfer(trained)
        return self._env

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        import asyncio

        started = time.monotonic()
        try:
            ranges = parse_randomisation(hypothesis.content, self._dr.bounds)
        except RandomisationError as e:
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Bad domain randomisation: {e}")
        randomised, trained, tuning = await self._dr.evaluator(ranges).train_tuned(hypothesis.content)
        if trained is None:
            return randomised.model_copy(update={"duration_s": time.monotonic() - started})
        constants = None if tuning is None else tuning.constants
        if ranges:
            (nominal, plain), env = await asyncio.gather(
                self._dr.evaluator(None).train(hypothesis.content, constants=constants), self.env_baseline()
            )
        else:  # no randomisation asked for: training without it is the very same run
            (nominal, plain), env = (randomised, trained), await self.env_baseline()
        transfers = {"randomised": await self._transfer(trained), "env": env}
        if plain is not None:
            transfers["plain"] = await self._transfer(plain)
        metrics = comparison_metrics(transfers)
        metrics.update({k: v for k, v in randomised.metrics.items() if k.startswith(("tuned_", "tuning_"))})
        score = transfers["randomised"].real_mean
        text = comparison_text(
            self.problem, self.real_dynamics, ranges, transfers, {"plain": nominal.status.value}
        )
        return Verdict(
            status=VerdictStatus.OK if score >= self.problem.target else VerdictStatus.FAIL,
            score=score,
            metrics=metrics,
            feedback=text,
            duration_s=time.monotonic() - started,
        )
