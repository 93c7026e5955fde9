"""The fixed trainers, run directly on trusted baseline rewards: they must separate the environment's reward
from the sparse one on every task where that is the point, and be exactly reproducible by seed."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.reward.problems import PROBLEMS, RewardProblem


def load(source: str):
    namespace: dict = {}
    exec(compile(source, "baseline.py", "exec"), namespace)
    return namespace["compute_reward"]


def train(problem: RewardProblem, source: str, seed: int) -> tuple[np.ndarray, dict]:
    return problem.trainer.train(problem.sim, load(source), seed, problem.trainer_config)


def test_pendulum_environment_reward_swings_up_and_sparse_does_not() -> None:
    problem = PROBLEMS["pendulum"]
    env_policy, log = train(problem, problem.env_reward, 0)
    sparse_policy, _ = train(problem, problem.sparse_reward, 0)
    assert problem.evaluate(env_policy) >= 0.7
    assert problem.evaluate(sparse_policy) <= 0.1
    assert len(log["windows"]["success"]) == 10
    assert set(log["windows"]) >= {"success", "return", "length", "component:angle_cost"}


def test_acrobot_environment_reward_reaches_the_line() -> None:
    problem = PROBLEMS["acrobot"]
    policy, _ = train(problem, problem.env_reward, 0)
    assert problem.evaluate(policy) >= 0.8


@pytest.mark.parametrize("key", ["mountaincar", "pendulum"])
def test_training_is_reproducible_by_seed(key: str) -> None:
    problem = PROBLEMS[key]
    config = {**problem.trainer_config, "steps": 600, "generations": 4}
    run = lambda seed: problem.trainer.train(problem.sim, load(problem.env_reward), seed, config)  # noqa: E731
    (a, log_a), (b, log_b), (c, _) = run(1), run(1), run(2)
    assert a.shape == problem.policy_shape()
    np.testing.assert_array_equal(a, b)
    assert log_a == log_b
    assert not np.array_equal(a, c)


def test_evaluation_starts_are_fixed() -> None:
    problem = PROBLEMS["mountaincar"]
    np.testing.assert_array_equal(problem.starts(), problem.starts())
    assert problem.starts().shape == (problem.eval_starts, 2)
