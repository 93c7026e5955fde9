"""The DrEureka variants of the reward problems: what the model may randomise, and the hidden "real" dynamics.

Each variant names the physical parameters the model may randomise with their allowed ranges (shown to the
model), a fixed set of perturbed dynamics standing in for the real system (never shown: the held-out score is
success on them), and the seeds of the held-out comparison. The perturbations are plausible model errors of
15-30% of a nominal parameter, chosen where a policy trained on the nominal simulator measurably degrades
(bench/RESULTS.md, "Domain randomisation"); whether randomising recovers that is what the comparison reports.

Acrobot has no variant: policies trained on the nominal Acrobot with its own reward kept >= 0.91 success
under every single-parameter change of up to 40% (masses, length, gravity, torque), so a comparison there
could not tell a randomisation from none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tasks.reward.problems import CEM_PENDULUM, HELD_OUT_SEEDS, PROBLEMS, RewardProblem, _cem_facts
from tasks.reward.shipped.sims import pendulum

#: training seeds of the held-out comparison. Three more than the plain held-out check: the quantity is a
#: difference of two means whose per-seed success spreads from ~0.3 to ~1.0 under perturbed dynamics
#: (measured on MountainCar), and six seeds halve its variance; a whole DR held-out check then took 15-25 s
#: (MountainCar) and 25-40 s (pendulum) on the shared 2-core machine
DR_HELD_OUT_SEEDS = (*HELD_OUT_SEEDS, 1003, 1004, 1005)

#: CEM ranks each weight vector on 3 episodes instead of 1: with randomisation every episode draws its own
#: dynamics, and even without it the environment's reward trained to 0.37 mean success over 6 seeds with 1
#: episode (bimodal: 3 of 6 seeds at 0) against 0.79 with 3, at ~20% more training time (vectorised)
PENDULUM_DR_CEM = {**CEM_PENDULUM, "episodes": 3}


@dataclass(frozen=True)
class DrVariant:
    """One DR task: the problem as trained, the randomisable parameters and the hidden real dynamics."""

    problem: RewardProblem
    #: parameter -> (lowest, highest) value a RANDOMISE range may reach; shown to the model
    bounds: dict[str, tuple[float, float]]
    #: the perturbed dynamics of the held-out score (each a partial override of the nominal PARAMS); hidden
    real_dynamics: tuple[dict[str, float], ...]
    #: what the policy is deployed on, for the prompt
    system: str
    seeds: tuple[int, ...] = DR_HELD_OUT_SEEDS


def _pendulum_problem() -> RewardProblem:
    base = PROBLEMS["pendulum"]
    facts = _cem_facts(pendulum, PENDULUM_DR_CEM, "torque = 2 * tanh(output)")
    return replace(base, trainer_config=PENDULUM_DR_CEM, trainer_facts=facts)


DR_VARIANTS: dict[str, DrVariant] = {
    "mountaincar": DrVariant(
        problem=PROBLEMS["mountaincar"],
        bounds={"force": (0.0005, 0.002), "gravity": (0.0015, 0.0035)},
        # a weaker motor (-25%), a steeper/heavier car (+30%), and both milder at once (-15%, +20%)
        real_dynamics=({"force": 0.00075}, {"gravity": 0.00325}, {"force": 0.00085, "gravity": 0.003}),
        system="a real car",
    ),
    "pendulum": DrVariant(
        problem=_pendulum_problem(),
        # max_torque above 2 would change nothing: the policy's torque is 2 * tanh(output)
        bounds={
            "g": (5.0, 15.0),
            "m": (0.5, 2.0),
            "l": (0.5, 2.0),
            "max_torque": (1.0, 2.0),
            "friction": (0.0, 0.3),
        },
        # heavier and longer (+30%, +20%); heavier with a weaker motor (+20%, -20%); heavier with joint
        # friction (+20%, 0.1 N m per rad/s: 40% of the motor's torque at the speed limit)
        real_dynamics=(
            {"m": 1.3, "l": 1.2},
            {"m": 1.2, "max_torque": 1.6},
            {"m": 1.2, "friction": 0.1},
        ),
        system="a real pendulum",
    ),
}
