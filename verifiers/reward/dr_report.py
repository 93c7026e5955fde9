"""The held-out comparison of a domain-randomised reward: the same measurements for every trained reward.

DrEureka's claim is that randomising during training makes a policy survive the real system. A held-out
score alone cannot show that, so the DR held-out verdict measures three sets of policies on the same seeds and
the same hidden dynamics: the candidate's reward trained with its randomisation, the same reward trained
without it (what the randomisation itself bought), and the environment's own reward trained without it (the
human-written reference). This module turns their policies into numbers and the verdict's metrics and text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from verifiers.reward.problem import RewardProblem

#: metric name stem per compared training; the candidate's stem stays "real_success" (the score)
STEMS = {
    "randomised": ("real_success", "sim_success"),
    "plain": ("real_success_without_randomisation", "sim_success_without_randomisation"),
    "env": ("baseline_env_real_success", "baseline_env_sim_success"),
}
LABELS = {
    "randomised": "your reward, with your randomisation",
    "plain": "your reward, without randomisation",
    "env": "environment's reward, without randomisation",
}


@dataclass(frozen=True)
class Transfer:
    """Success of one reward's policies (one per seed) in the nominal simulator and on each real dynamics."""

    seeds: tuple[int, ...]
    sim: tuple[float, ...]
    #: real[i][j]: the policy of seeds[i] on the j-th real dynamics
    real: tuple[tuple[float, ...], ...]

    @property
    def real_mean(self) -> float:
        return float(np.mean(self.real))

    @property
    def sim_mean(self) -> float:
        return float(np.mean(self.sim))

    def per_seed(self) -> list[float]:
        return [float(np.mean(row)) for row in self.real]

    def per_dynamics(self) -> list[float]:
        return [float(v) for v in np.mean(np.asarray(self.real), axis=0)]


def measure(
    problem: RewardProblem,
    dynamics: Sequence[Mapping[str, float]],
    seeds: Sequence[int],
    sim_success: Sequence[float],
    policies: Sequence[np.ndarray],
) -> Transfer:
    """Score each policy on every real dynamics from the problem's fixed evaluation starts (host side)."""
    starts = problem.starts()
    real = tuple(
        tuple(problem.evaluate(p, params=dict(d), starts=starts) for d in dynamics) for p in policies
    )
    return Transfer(seeds=tuple(seeds), sim=tuple(sim_success), real=real)


def comparison_metrics(transfers: Mapping[str, Transfer]) -> dict[str, float]:
    """Means, per seed and per dynamics for each training present, and the two margins of the candidate."""
    metrics: dict[str, float] = {}
    for key, t in transfers.items():
        real, sim = STEMS[key]
        metrics[real] = t.real_mean
        metrics[sim] = t.sim_mean
        metrics.update({f"{real}_seed_{s}": v for s, v in zip(t.seeds, t.per_seed(), strict=True)})
        metrics.update({f"{real}_dynamics_{j}": v for j, v in enumerate(t.per_dynamics())})
    score = transfers["randomised"].real_mean
    if "plain" in transfers:
        metrics["margin_vs_no_randomisation"] = score - transfers["plain"].real_mean
    if "env" in transfers:
        metrics["margin_vs_env"] = score - transfers["env"].real_mean
    return metrics


def _dynamics_text(problem: RewardProblem, dynamics: Sequence[Mapping[str, float]]) -> str:
    """Each real dynamics as the parameters it changes from the nominal simulator."""
    parts = []
    for j, d in enumerate(dynamics):
        changed = [f"{k}={v:g}" for k, v in d.items() if v != problem.sim.PARAMS.get(k)]
        parts.append(f"[{j}] " + (", ".join(changed) or "nominal"))
    return "; ".join(parts)


def comparison_text(
    problem: RewardProblem,
    dynamics: Sequence[Mapping[str, float]],
    ranges: Mapping[str, Sequence[float]],
    transfers: Mapping[str, Transfer],
    missing: Mapping[str, str] | None = None,
) -> str:
    """A short table: real and nominal success of each training, per dynamics, then the margins."""
    t0 = transfers["randomised"]
    shown = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in ranges.items()) or "none"
    width = max(len(v) for v in LABELS.values())
    lines = [
        f"Held-out: success on {len(dynamics)} perturbed dynamics never shown to the search, policies "
        f"trained on seeds {list(t0.seeds)}. Your randomisation: {shown}.",
        f"  {'':<{width}}  real   per dynamics        nominal sim",
    ]
    for key, label in LABELS.items():
        if key in transfers:
            t = transfers[key]
            per = " ".join(f"{v:.2f}" for v in t.per_dynamics())
            lines.append(f"  {label:<{width}}  {t.real_mean:.3f}  {per:<18}  {t.sim_mean:.3f}")
        else:
            lines.append(f"  {label:<{width}}  did not train: {(missing or {}).get(key, 'unknown')}")
    if "plain" in transfers:
        margin = t0.real_mean - transfers["plain"].real_mean
        lines.append(f"  randomisation changed your reward's real success by {margin:+.3f}")
    if "env" in transfers:
        margin = t0.real_mean - transfers["env"].real_mean
        lines.append(f"  your randomised policy vs the environment's reward: {margin:+.3f}")
    lines.append(f"  real dynamics: {_dynamics_text(problem, dynamics)}")
    return "\n".join(lines)
