"""The reward problems: which simulator, which fixed trainer, how success is measured, and the two baselines.

A `RewardProblem` is everything the reward evaluator needs and everything the task shows the model. The
baselines are reward sources in exactly the candidates' format, so they go through the same sandboxed
training on the same seeds as any candidate.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from tasks.reward.shipped.sims import acrobot, mountaincar, pendulum
from tasks.reward.shipped.trainers import cem, qlearning
from verifiers.reward.problem import HELD_OUT_SEEDS, SEARCH_SEEDS, TUNING_SEEDS

__all__ = ["HELD_OUT_SEEDS", "PROBLEMS", "SEARCH_SEEDS", "TUNING_SEEDS", "RewardProblem"]

TRAINERS_DIR = Path(__file__).parent / "shipped" / "trainers"
EVAL_SEED = 12345


@dataclass(frozen=True)
class RewardProblem:  # implements verifiers.reward.problem.RewardProblem
    name: str
    sim: ModuleType
    trainer: ModuleType
    goal: str
    trainer_facts: str
    success_text: str
    sparse_reward: str
    env_reward: str
    trainer_config: dict = field(default_factory=dict)
    eval_starts: int = 100
    #: mean success at or above this makes a verdict `ok`
    target: float = 0.9

    def starts(self) -> np.ndarray:
        """The fixed evaluation start states (the same for every candidate and seed)."""
        return self.sim.reset(np.random.default_rng(EVAL_SEED), self.eval_starts)

    def policy_shape(self) -> tuple[int, ...]:
        return tuple(self.trainer.policy_shape(self.sim, self.trainer_config))

    def evaluate(
        self, policy: np.ndarray, params: dict | None = None, starts: np.ndarray | None = None
    ) -> float:
        """Success rate of a trained policy from the fixed starts, on the host's own simulator."""
        where = self.starts() if starts is None else starts
        return float(np.mean(self.trainer.evaluate(self.sim, policy, where, self.trainer_config, params)))

    def job_files(self) -> dict[str, str]:
        """The self-contained sources the job needs (the verifier adds the candidate and the config)."""
        return {
            "sim.py": Path(inspect.getfile(self.sim)).read_text(encoding="utf-8"),
            "trainer.py": Path(inspect.getfile(self.trainer)).read_text(encoding="utf-8"),
            "stats.py": (TRAINERS_DIR / "stats.py").read_text(encoding="utf-8"),
        }

    def environment_source(self) -> str:
        """The simulator's source as the model sees it: dynamics only, there is no reward in it."""
        return Path(inspect.getfile(self.sim)).read_text(encoding="utf-8")


QLEARNING_FACTS = (
    "Tile-coded Q-learning (8 offset tilings of a 9x9 grid over the observation, linear Q, weights "
    "start at 0, learning rate 0.5/8, epsilon-greedy with epsilon 0.05 and random tie-breaking), "
    "discount gamma = 0.99, 16 environments in parallel for {steps} steps each ({total} environment "
    "steps in all). An episode ends "
    "when `done` is True (no bootstrapping past it) or after {max_steps} steps (bootstrapped: a time limit "
    "is not a terminal state). The learned policy acts greedily."
)
CEM_FACTS = (
    "Cross-entropy method over an MLP policy (observation scaled to [-1, 1] -> {hidden} tanh units -> "
    "action; {action}). Each of {generations} generations samples {population} weight vectors, runs each for "
    "{episodes} whole episode(s) from random starts, ranks them by the UNDISCOUNTED SUM of your reward over "
    "the episode, and refits a Gaussian to the best {elite:.0%}. An episode ends when `done` is True (no "
    "more reward is collected after it) or after {max_steps} steps. The final policy is the mean of the "
    "Gaussian."
)


def _qlearning_facts(sim: ModuleType, config: dict) -> str:
    c = {**qlearning.DEFAULTS, **config}
    return QLEARNING_FACTS.format(steps=c["steps"], total=c["steps"] * c["envs"], max_steps=sim.MAX_STEPS)


def _cem_facts(sim: ModuleType, config: dict, action: str) -> str:
    c = {**cem.DEFAULTS, **config}
    return CEM_FACTS.format(action=action, max_steps=sim.MAX_STEPS, **c)


MOUNTAINCAR_SPARSE = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    goal = done.astype(np.float64)
    return goal, {"goal": goal}
"""

MOUNTAINCAR_ENV = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    # gymnasium MountainCar-v0: -1 for every step until the flag is reached
    step = -np.ones(len(obs))
    return step, {"step": step}
"""

PENDULUM_SPARSE = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    upright = (np.abs(np.arctan2(next_obs[:, 1], next_obs[:, 0])) < 0.3).astype(np.float64)
    return upright, {"upright": upright}
"""

PENDULUM_ENV = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    # gymnasium Pendulum-v1: -(angle^2 + 0.1 * velocity^2 + 0.001 * torque^2), from the state before the step
    angle = np.arctan2(obs[:, 1], obs[:, 0])
    torque = np.clip(action, -2.0, 2.0)
    angle_cost = angle**2
    velocity_cost = 0.1 * obs[:, 2] ** 2
    torque_cost = 0.001 * torque**2
    reward = -(angle_cost + velocity_cost + torque_cost)
    return reward, {"angle_cost": -angle_cost, "velocity_cost": -velocity_cost, "torque_cost": -torque_cost}
"""

ACROBOT_SPARSE = MOUNTAINCAR_SPARSE

ACROBOT_ENV = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    # gymnasium Acrobot-v1: -1 for every step that does not reach the goal, 0 for the one that does
    step = np.where(done, 0.0, -1.0)
    return step, {"step": step}
"""

CEM_PENDULUM = {
    "hidden": 8,
    "population": 64,
    "episodes": 1,
    "generations": 50,
    "elite": 0.1,
    "init_std": 1.0,
    "extra_std": 0.1,
}
CEM_ACROBOT = {
    "hidden": 8,
    "population": 24,
    "episodes": 1,
    "generations": 15,
    "elite": 0.2,
    "init_std": 1.0,
    "extra_std": 0.1,
}


def _problems() -> dict[str, RewardProblem]:
    return {
        "mountaincar": RewardProblem(
            name="mountaincar",
            sim=mountaincar,
            trainer=qlearning,
            goal="Drive the under-powered car out of the valley to the flag on the right hill "
            "(position >= 0.5) within 200 steps.",
            trainer_facts=_qlearning_facts(mountaincar, {}),
            success_text="the greedy policy reaches the flag within 200 steps",
            sparse_reward=MOUNTAINCAR_SPARSE,
            env_reward=MOUNTAINCAR_ENV,
        ),
        "pendulum": RewardProblem(
            name="pendulum",
            sim=pendulum,
            trainer=cem,
            goal="Swing the pendulum up from any start and keep it upright: |theta| < 0.3 rad for each of "
            "the last 40 of the 200 steps.",
            trainer_facts=_cem_facts(pendulum, CEM_PENDULUM, "torque = 2 * tanh(output)"),
            success_text="the pendulum is within 0.3 rad of upright for each of the last 40 steps",
            sparse_reward=PENDULUM_SPARSE,
            env_reward=PENDULUM_ENV,
            trainer_config=CEM_PENDULUM,
            target=0.8,
        ),
        "acrobot": RewardProblem(
            name="acrobot",
            sim=acrobot,
            trainer=cem,
            goal="Swing the acrobot's tip above the line one link length over the pivot within 500 steps.",
            trainer_facts=_cem_facts(acrobot, CEM_ACROBOT, "action = argmax of 3 outputs"),
            success_text="the tip rises above the target line within 500 steps",
            sparse_reward=ACROBOT_SPARSE,
            env_reward=ACROBOT_ENV,
            trainer_config=CEM_ACROBOT,
        ),
    }


PROBLEMS: dict[str, RewardProblem] = _problems()
