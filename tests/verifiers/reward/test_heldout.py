"""The held-out check retrains on seeds the search never used and reports both baselines on the same seeds."""

from __future__ import annotations

import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.reward.problems import PROBLEMS, SEARCH_SEEDS
from verifiers.reward.heldout import RewardHeldOut

pytestmark = pytest.mark.requires_modules("numpy")

MC = PROBLEMS["mountaincar"]

POTENTIAL_SHAPING = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    # -1 per step plus potential-based shaping on mechanical energy (keeps the optimal policy)
    def energy(o):
        return (np.sin(3 * o[:, 0]) * 0.45 + 0.55) + 0.5 * o[:, 1] ** 2 / 0.0025

    shaping = 0.99 * energy(next_obs) * (~done) - energy(obs)
    step = -np.ones(len(obs))
    return step + shaping, {"step": step, "shaping": shaping}
"""


async def test_held_out_compares_with_both_baselines_on_fresh_seeds(sandbox: Sandbox) -> None:
    held_out = RewardHeldOut(MC, seeds=(1000,), sandbox=sandbox)
    assert not set(held_out.seeds) & set(SEARCH_SEEDS)
    verdict = await held_out.verify(Hypothesis.create(POTENTIAL_SHAPING))
    assert verdict.status is VerdictStatus.OK and verdict.score is not None and verdict.score >= 0.9
    m = verdict.metrics
    assert m["baseline_sparse"] == 0.0 and m["baseline_sparse_success_seed_1000"] == 0.0
    assert m["baseline_env"] >= 0.9
    assert m["margin_vs_env"] == verdict.score - m["baseline_env"]
    assert m["beats_env"] == float(verdict.score >= m["baseline_env"])
    assert "environment's own reward" in verdict.feedback and "[1000]" in verdict.feedback
    # the baselines are trained once per verifier, then reused
    cached = await held_out.baselines()
    failing = await held_out.verify(Hypothesis.create(MC.sparse_reward))
    assert failing.score == 0.0 and failing.metrics["baseline_env"] == cached["env"].score
