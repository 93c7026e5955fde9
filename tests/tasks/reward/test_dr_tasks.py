"""The DrEureka tasks: registered, showing what may be randomised and within which bounds, hiding the real
dynamics, and holding the comparison out on seeds the search never trains on."""

from __future__ import annotations

import pytest

from agent.kernel.plugins import load_suite
from tasks.reward.dr import DR_VARIANTS
from tasks.reward.problems import SEARCH_SEEDS, TUNING_SEEDS
from verifiers.reward.dr import DomainRandomisedEvaluator, DomainRandomisedHeldOut


@pytest.mark.parametrize("key", sorted(DR_VARIANTS))
def test_dr_task_shows_bounds_and_hides_the_real_dynamics(key: str) -> None:
    variant = DR_VARIANTS[key]
    (task,) = load_suite(f"reward/{key}-dr").problems
    text = task.instructions
    assert "RANDOMISE = {" in text and variant.system in text
    assert variant.problem.trainer_facts in text
    for name, (low, high) in variant.bounds.items():
        nominal = variant.problem.sim.PARAMS[name]
        assert f"{name} (nominal {nominal:g}, allowed [{low:g}, {high:g}])" in text
    for dynamics in variant.real_dynamics:
        assert repr(dynamics) not in text
        assert not any(f"{k}={v:g}" in text for k, v in dynamics.items())
    assert isinstance(task.verifier, DomainRandomisedEvaluator)
    assert isinstance(task.held_out, DomainRandomisedHeldOut)
    assert task.held_out.seeds == variant.seeds
    assert not set(variant.seeds) & (set(SEARCH_SEEDS) | set(TUNING_SEEDS))
    assert task.verifier.problem is task.held_out.problem is variant.problem


@pytest.mark.parametrize("key", sorted(DR_VARIANTS))
def test_real_dynamics_perturb_known_parameters(key: str) -> None:
    """A misspelt parameter would leave the simulator nominal without any error: each must be real."""
    variant = DR_VARIANTS[key]
    nominal = variant.problem.sim.PARAMS
    assert set(variant.bounds) <= set(nominal)
    for dynamics in variant.real_dynamics:
        assert dynamics and set(dynamics) <= set(nominal)
        assert all(value != nominal[name] for name, value in dynamics.items())


def test_pendulum_dr_ranks_on_three_episodes_and_says_so() -> None:
    problem = DR_VARIANTS["pendulum"].problem
    assert problem.trainer_config["episodes"] == 3
    assert "runs each for 3 whole episode(s)" in problem.trainer_facts
    assert set(DR_VARIANTS["pendulum"].bounds) == {"g", "m", "l", "max_torque", "friction"}
