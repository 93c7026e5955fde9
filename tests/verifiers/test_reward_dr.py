"""DrEureka's domain randomisation: ranges are read without running the code, validated, used in training,
and the held-out check scores unseen perturbed dynamics against training without randomisation."""

from __future__ import annotations

import numpy as np
import pytest

from agent.types import Hypothesis, VerdictStatus
from sandboxes.base import Sandbox
from tasks.reward.problems import PROBLEMS
from tasks.reward.suite import DR_BOUNDS, DR_REAL_DYNAMICS
from tests.verifiers import reward_fixtures
from verifiers.reward_dr import (
    DomainRandomisedEvaluator,
    DomainRandomisedHeldOut,
    RandomisationError,
    parse_randomisation,
)

reward_sandbox = reward_fixtures.reward_sandbox

MC = PROBLEMS["mountaincar"]
WITH_RANGES = MC.env_reward + '\nRANDOMISE = {"force": (0.0006, 0.0012), "gravity": [0.0022, 0.0034]}\n'


def test_ranges_are_parsed_and_validated_without_running_the_code() -> None:
    assert parse_randomisation(WITH_RANGES, DR_BOUNDS) == {
        "force": [0.0006, 0.0012],
        "gravity": [0.0022, 0.0034],
    }
    assert parse_randomisation("RANDOMISE = {}\n", DR_BOUNDS) == {}
    # a side effect in the file is never executed: parsing only reads the literal
    assert parse_randomisation(
        "import os\nos.system('false')\nRANDOMISE = {'force': (0.001, 0.001)}", DR_BOUNDS
    )


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("x = 1\n", "define a module-level RANDOMISE"),
        ("RANDOMISE = {'mass': (1, 2)}\n", "unknown parameter 'mass'"),
        ("RANDOMISE = {'force': (0.0001, 0.001)}\n", "need 0.0005 <= low <= high <= 0.002"),
        ("RANDOMISE = {'force': (0.0012, 0.0008)}\n", "low <= high"),
        ("RANDOMISE = {'force': 0.001}\n", "(low, high) pair"),
        ("RANDOMISE = dict(force=(0.001, 0.0012))\n", "literal dict"),
        ("RANDOMISE = {'force': (float('nan'), 0.001)}\n", "literal dict"),
    ],
)
def test_bad_ranges_are_rejected_with_a_reason(source: str, needle: str) -> None:
    with pytest.raises(RandomisationError, match=None) as err:
        parse_randomisation(source, DR_BOUNDS)
    assert needle in str(err.value)


async def test_bad_ranges_are_an_invalid_verdict() -> None:
    verdict = await DomainRandomisedEvaluator(MC, DR_BOUNDS).verify(Hypothesis.create(MC.env_reward))
    assert verdict.status is VerdictStatus.INVALID and "RANDOMISE" in verdict.feedback


async def test_randomisation_reaches_training(reward_sandbox: Sandbox) -> None:
    dr = DomainRandomisedEvaluator(MC, DR_BOUNDS, seeds=(0,), sandbox=reward_sandbox)
    _, randomised = await dr.evaluator({"force": [0.0006, 0.0012]}).train(WITH_RANGES)
    _, plain = await dr.evaluator(None).train(WITH_RANGES)
    assert randomised is not None and plain is not None
    assert not np.array_equal(randomised.policies[0], plain.policies[0])


async def test_held_out_scores_unseen_dynamics_against_no_randomisation(reward_sandbox: Sandbox) -> None:
    held_out = DomainRandomisedHeldOut(MC, DR_BOUNDS, DR_REAL_DYNAMICS, seeds=(1000,), sandbox=reward_sandbox)
    verdict = await held_out.verify(Hypothesis.create(WITH_RANGES))
    assert verdict.score is not None and 0.0 <= verdict.score <= 1.0
    assert verdict.score == verdict.metrics["real_success_seed_1000"]
    m = verdict.metrics
    assert 0.0 <= m["real_success_without_randomisation"] <= 1.0 and m["sim_success"] >= 0.9
    assert m["margin_vs_no_randomisation"] == pytest.approx(
        verdict.score - m["real_success_without_randomisation"]
    )
    assert "without randomisation" in verdict.feedback
