"""DrEureka's step: the model also proposes domain randomisation, judged on "real" dynamics it never sees.

A candidate defines `compute_reward` and a module-level `RANDOMISE = {"param": (low, high), ...}`. The ranges
are read from the source with `ast.literal_eval` (never by running it) and validated against the problem's
allowed bounds; training then draws each environment's physical parameters uniformly from them at every
episode start. The search verifier scores success in the nominal simulator; the held-out verifier scores
success on a fixed set of perturbed dynamics, and reports how the same reward does when trained without
randomisation on the same seeds.
"""

from __future__ import annotations

import ast
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from agent.types import Hypothesis, Verdict, VerdictStatus
from sandboxes.base import Limits, Sandbox
from tasks.reward.problems import HELD_OUT_SEEDS, SEARCH_SEEDS, RewardProblem
from verifiers.reward_eval import RewardEvaluator

RANDOMISE_NAME = "RANDOMISE"


class RandomisationError(ValueError):
    """The RANDOMISE structure is missing or malformed; the message is for the model."""


def parse_randomisation(source: str, bounds: Mapping[str, tuple[float, float]]) -> dict[str, list[float]]:
    """The validated ranges from `RANDOMISE = {...}` in the source (an empty dict means no randomisation)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise RandomisationError(f"SyntaxError: {e.msg} (line {e.lineno})") from None
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
    except ValueError:
        raise RandomisationError(
            f"{RANDOMISE_NAME} must be a literal dict of (low, high) number pairs"
        ) from None
    if not isinstance(value, dict):
        raise RandomisationError(f"{RANDOMISE_NAME} must be a dict")
    ranges: dict[str, list[float]] = {}
    for name, pair in value.items():
        if name not in bounds:
            raise RandomisationError(f"unknown parameter {name!r} (known: {', '.join(sorted(bounds))})")
        ok = isinstance(pair, tuple | list) and len(pair) == 2
        ok = ok and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
        if not ok:
            raise RandomisationError(f"{name}: give a (low, high) pair of numbers, got {pair!r}")
        low, high = float(pair[0]), float(pair[1])
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

    version = "1"

    def __init__(
        self,
        problem: RewardProblem,
        bounds: Mapping[str, tuple[float, float]],
        *,
        seeds: Sequence[int] = SEARCH_SEEDS,
        limits: Limits | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.problem = problem
        self.bounds = dict(bounds)
        self.seeds = tuple(seeds)
        self.name = f"reward-{problem.name}-dr"
        self.limits = limits
        self._sandbox = sandbox

    def evaluator(self, randomise: dict[str, list[float]] | None) -> RewardEvaluator:
        return RewardEvaluator(
            self.problem,
            seeds=self.seeds,
            name=self.name,
            limits=self.limits,
            sandbox=self._sandbox,
            randomise=randomise or None,
        )

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        try:
            ranges = parse_randomisation(hypothesis.content, self.bounds)
        except RandomisationError as e:
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Bad domain randomisation: {e}")
        verdict, _ = await self.evaluator(ranges).train(hypothesis.content)
        shown = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in ranges.items()) or "none"
        feedback = f"Trained with domain randomisation: {shown}.\n{verdict.feedback}"
        return verdict.model_copy(update={"feedback": feedback, "duration_s": time.monotonic() - started})


class DomainRandomisedHeldOut:
    """Held-out: success on fixed perturbed dynamics (never shown), with and without the ranges."""

    version = "1"

    def __init__(
        self,
        problem: RewardProblem,
        bounds: Mapping[str, tuple[float, float]],
        real_dynamics: Sequence[Mapping[str, float]],
        *,
        seeds: Sequence[int] = HELD_OUT_SEEDS,
        limits: Limits | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.problem = problem
        self.real_dynamics = [dict(problem.sim.PARAMS) | dict(d) for d in real_dynamics]
        self._dr = DomainRandomisedEvaluator(problem, bounds, seeds=seeds, limits=limits, sandbox=sandbox)
        self.name = f"reward-{problem.name}-dr-held-out"

    def real_success(self, policies: Sequence[np.ndarray]) -> list[float]:
        """Per policy: mean success over the perturbed dynamics, from the fixed evaluation starts."""
        return [
            float(np.mean([self.problem.evaluate(p, params=d) for d in self.real_dynamics])) for p in policies
        ]

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        import asyncio

        started = time.monotonic()
        try:
            ranges = parse_randomisation(hypothesis.content, self._dr.bounds)
        except RandomisationError as e:
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Bad domain randomisation: {e}")
        randomised, trained = await self._dr.evaluator(ranges).train(hypothesis.content)
        if trained is None:
            return randomised.model_copy(update={"duration_s": time.monotonic() - started})
        nominal, plain = await self._dr.evaluator(None).train(hypothesis.content)
        real = await asyncio.to_thread(self.real_success, trained.policies)
        score = float(np.mean(real))
        metrics = {f"real_success_seed_{s}": v for s, v in zip(self._dr.seeds, real, strict=True)}
        metrics["sim_success"] = trained.score
        lines = [
            f"Success on {len(self.real_dynamics)} held-out perturbed dynamics, "
            f"seeds {list(self._dr.seeds)}:",
            f"  trained with your randomisation: {score:.3f} (nominal simulator: {trained.score:.3f})",
        ]
        if plain is not None:
            real_plain = await asyncio.to_thread(self.real_success, plain.policies)
            metrics["real_success_without_randomisation"] = float(np.mean(real_plain))
            metrics["margin_vs_no_randomisation"] = score - metrics["real_success_without_randomisation"]
            lines.append(
                f"  same reward without randomisation: {metrics['real_success_without_randomisation']:.3f}"
            )
        else:
            lines.append(f"  same reward without randomisation did not train: {nominal.status.value}")
        return Verdict(
            status=VerdictStatus.OK if score >= self.problem.target else VerdictStatus.FAIL,
            score=score,
            metrics=metrics,
            feedback="\n".join(lines),
            duration_s=time.monotonic() - started,
        )
