"""The reward evaluator's re-verification on more seeds (the kernel's MultiFidelityVerifier capability),
which successive halving uses: it trains on the search seeds plus the extra ones, never on held-out seeds."""

from __future__ import annotations

import pytest

from agent.kernel.errors import VerifierError
from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from agent.kernel.verifier import MultiFidelityVerifier, fidelities_of
from tasks.reward.problems import PROBLEMS
from verifiers.reward.evaluator import RewardEvaluator
from verifiers.reward.problem import HELD_OUT_SEEDS, MORE_SEARCH_SEEDS, SEARCH_SEEDS, TUNING_SEEDS

pytestmark = pytest.mark.requires_modules("numpy")
MC = PROBLEMS["mountaincar"]


def test_the_search_verifier_offers_more_seeds_and_the_held_out_one_does_not() -> None:
    search = RewardEvaluator(MC)
    assert isinstance(search, MultiFidelityVerifier)
    assert fidelities_of(search) == (3, 3 + len(MORE_SEARCH_SEEDS))
    assert not set(MORE_SEARCH_SEEDS) & {*SEARCH_SEEDS, *HELD_OUT_SEEDS, *TUNING_SEEDS}
    assert fidelities_of(RewardEvaluator(MC, seeds=HELD_OUT_SEEDS)) == ()
    # the extra seeds are part of the identity; a verifier without them keeps the identity it had
    assert RewardEvaluator(MC, more_seeds=(3,)).version != search.version
    plain = RewardEvaluator(MC, seeds=(0,), more_seeds=())
    assert plain.version == RewardEvaluator(MC, seeds=(0,)).version


async def test_verify_at_trains_on_the_extra_seeds(task_sandbox: Sandbox) -> None:
    ev = RewardEvaluator(MC, seeds=(0,), more_seeds=(3,), sandbox=task_sandbox)
    assert ev.fidelities == (1, 2)
    verdict = await ev.verify_at(Hypothesis.create(MC.env_reward), 2)
    assert verdict.status is VerdictStatus.OK
    assert {"success_seed_0", "success_seed_3"} <= set(verdict.metrics)
    assert verdict.score == pytest.approx(
        (verdict.metrics["success_seed_0"] + verdict.metrics["success_seed_3"]) / 2
    )
    with pytest.raises(VerifierError):
        await ev.verify_at(Hypothesis.create(MC.env_reward), 5)
