"""DrEureka's domain randomisation: ranges are read without running the code, validated, used in training,
and the held-out check scores unseen perturbed dynamics for the candidate trained with its ranges, the same
reward trained without them and the environment's reward, all on the same seeds."""

from __future__ import annotations

import numpy as np
import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from tasks.reward.dr import DR_VARIANTS
from tasks.reward.problems import PROBLEMS
from tasks.reward.shipped.sims import pendulum
from tasks.reward.suite import DR_BOUNDS, DR_REAL_DYNAMICS
from verifiers.reward.dr import (
    DomainRandomisedEvaluator,
    DomainRandomisedHeldOut,
    RandomisationError,
    parse_randomisation,
)

pytestmark = pytest.mark.requires_modules("numpy")

MC = PROBLEMS["mountaincar"]
WITH_RANGES = MC.env_reward + '\nRANDOMISE = {"force": (0.0006, 0.0012), "gravity": [0.0022, 0.0034]}\n'
PENDULUM = DR_VARIANTS["pendulum"]
PENDULUM_RANGES = '\nRANDOMISE = {"m": (0.8, 1.2), "max_torque": (1.6, 2.0), "friction": (0.0, 0.05)}\n'
#: the environment's own reward for every comparison row: trained without randomisation it IS the baseline
COMPARED = ("real_success", "real_success_without_randomisation", "baseline_env_real_success")


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
    assert parse_randomisation(PENDULUM.problem.env_reward + PENDULUM_RANGES, PENDULUM.bounds) == {
        "m": [0.8, 1.2],
        "max_torque": [1.6, 2.0],
        "friction": [0.0, 0.05],
    }


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("x = 1\n", "define a module-level RANDOMISE"),
        ("RANDOMISE = {'mass': (1, 2)}\n", "unknown parameter 'mass'"),
        ("RANDOMISE = {'force': (0.0001, 0.001)}\n", "need 0.0005 <= low <= high <= 0.002"),
        ("RANDOMISE = {'force': (0.0012, 0.0008)}\n", "low <= high"),
        ("RANDOMISE = {'force': 0.001}\n", "(low, high) pair"),
        ("RANDOMISE = {'force': (True, 0.001)}\n", "(low, high) pair"),
        ("RANDOMISE = {'force': (0.0006, 0.001, 0.002)}\n", "(low, high) pair"),
        ("RANDOMISE = [('force', (0.0006, 0.001))]\n", "must be a dict"),
        ("RANDOMISE = dict(force=(0.001, 0.0012))\n", "literal dict"),
        ("RANDOMISE = {'force': (0.0006, 2 * 0.0006)}\n", "literal dict"),
        ("RANDOMISE = {'force': (float('nan'), 0.001)}\n", "literal dict"),
        ("RANDOMISE = {'force': (0.0006\n", "SyntaxError"),
    ],
)
def test_bad_ranges_are_rejected_with_a_reason(source: str, needle: str) -> None:
    with pytest.raises(RandomisationError) as err:
        parse_randomisation(source, DR_BOUNDS)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("ranges", "needle"),
    [
        ("{'mass': (1.0, 1.5)}", "unknown parameter 'mass' (known: friction, g, l, m, max_torque)"),
        ("{'friction': (-0.1, 0.1)}", "need 0 <= low <= high <= 0.3"),
        ("{'max_torque': (1.5, 2.5)}", "need 1 <= low <= high <= 2"),
        ("{'l': (1.4, 0.8)}", "low <= high"),
    ],
)
def test_pendulum_bounds_cover_its_parameters(ranges: str, needle: str) -> None:
    with pytest.raises(RandomisationError) as err:
        parse_randomisation(f"RANDOMISE = {ranges}\n", PENDULUM.bounds)
    assert needle in str(err.value)


async def test_bad_ranges_are_an_invalid_verdict_for_search_and_held_out() -> None:
    bad = Hypothesis.create(MC.env_reward + "\nRANDOMISE = {'force': (0.0012, 0.0008)}\n")
    for verifier in (
        DomainRandomisedEvaluator(MC, DR_BOUNDS),
        DomainRandomisedHeldOut(MC, DR_BOUNDS, DR_REAL_DYNAMICS),
    ):
        verdict = await verifier.verify(Hypothesis.create(MC.env_reward))
        assert verdict.status is VerdictStatus.INVALID and "RANDOMISE" in verdict.feedback
        verdict = await verifier.verify(bad)
        assert verdict.status is VerdictStatus.INVALID and verdict.score is None
        assert "force: need 0.0005 <= low <= high <= 0.002" in verdict.feedback


def test_friction_brakes_the_pendulum_and_is_drawn_per_environment() -> None:
    """Friction 0 is gymnasium's pendulum (tests/tasks/test_reward_sims.py); more of it damps the swing."""
    start = np.array([[np.pi / 2, 0.0]] * 3)
    params = dict(pendulum.PARAMS, friction=np.array([0.0, 0.1, 0.3]))
    state = start
    speeds = []
    for _ in range(60):
        state, _ = pendulum.step(state, np.zeros(3), params)
        speeds.append(np.abs(state[:, 1]))
    peak = np.max(speeds, axis=0)
    assert peak[0] > peak[1] > peak[2]
    alone, _ = pendulum.step(start[1:2], np.zeros(1), dict(pendulum.PARAMS, friction=0.1))
    np.testing.assert_array_equal(pendulum.step(start, np.zeros(3), params)[0][1], alone[0])


async def test_randomisation_reaches_training(task_sandbox: Sandbox) -> None:
    dr = DomainRandomisedEvaluator(MC, DR_BOUNDS, seeds=(0,), sandbox=task_sandbox)
    _, randomised = await dr.evaluator({"force": [0.0006, 0.0012]}).train(WITH_RANGES)
    _, plain = await dr.evaluator(None).train(WITH_RANGES)
    assert randomised is not None and plain is not None
    assert not np.array_equal(randomised.policies[0], plain.policies[0])


def assert_compared(verdict: Verdict, seeds: tuple[int, ...]) -> None:
    """The held-out comparison: the candidate trained with its ranges, without them, and the environment's
    reward, each per seed and per real dynamics, their means the headline numbers."""
    m = verdict.metrics
    assert verdict.score is not None and verdict.score == m["real_success"]
    for stem in COMPARED:
        assert 0.0 <= m[stem] <= 1.0
        per_seed = [m[f"{stem}_seed_{s}"] for s in seeds]
        per_dynamics = [m[f"{stem}_dynamics_{j}"] for j in range(len(DR_REAL_DYNAMICS))]
        assert m[stem] == pytest.approx(np.mean(per_seed)) == pytest.approx(np.mean(per_dynamics))
    # the candidate is the environment's reward: trained without randomisation it is the baseline, exactly
    assert m["real_success_without_randomisation"] == m["baseline_env_real_success"]
    assert m["sim_success_without_randomisation"] == m["baseline_env_sim_success"] >= 0.9
    assert m["margin_vs_no_randomisation"] == pytest.approx(m["real_success"] - m[COMPARED[1]])
    assert m["margin_vs_env"] == pytest.approx(m["real_success"] - m[COMPARED[2]])
    for text in ("with your randomisation", "without randomisation", "environment's reward", "force=0.00075"):
        assert text in verdict.feedback
    assert "force in [0.0006, 0.0012], gravity in [0.0022, 0.0034]" in verdict.feedback


async def test_held_out_compares_deterministically_and_empty_ranges_change_nothing(
    task_sandbox: Sandbox,
) -> None:
    def make() -> DomainRandomisedHeldOut:
        return DomainRandomisedHeldOut(MC, DR_BOUNDS, DR_REAL_DYNAMICS, seeds=(1000,), sandbox=task_sandbox)

    held_out = make()
    first = await held_out.verify(Hypothesis.create(WITH_RANGES))
    assert_compared(first, seeds=(1000,))
    second = await make().verify(Hypothesis.create(WITH_RANGES))  # a fresh one: its baselines trained again
    assert first.metrics == second.metrics and first.feedback == second.feedback
    # the first one again, its baselines cached: the candidate's own trainings are what is compared
    none = await held_out.verify(Hypothesis.create(MC.env_reward + "\nRANDOMISE = {}\n"))
    assert none.metrics["margin_vs_no_randomisation"] == 0.0 == none.metrics["margin_vs_env"]
    assert none.metrics["real_success"] == first.metrics["baseline_env_real_success"]


async def test_pendulum_dr_trains_with_friction_and_reports_the_comparison(task_sandbox: Sandbox) -> None:
    held_out = DomainRandomisedHeldOut(
        PENDULUM.problem, PENDULUM.bounds, PENDULUM.real_dynamics, seeds=(1000,), sandbox=task_sandbox
    )
    verdict = await held_out.verify(Hypothesis.create(PENDULUM.problem.env_reward + PENDULUM_RANGES))
    assert verdict.status in (VerdictStatus.OK, VerdictStatus.FAIL), verdict.feedback
    assert all(0.0 <= verdict.metrics[stem] <= 1.0 for stem in COMPARED)
    assert "friction in [0, 0.05]" in verdict.feedback and "friction=0.1" in verdict.feedback
