"""The numpy simulators must follow gymnasium's classic-control dynamics step for step under the same actions,
otherwise rewards searched here would not transfer to the environments they claim to model."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.reward.shipped.sims import acrobot, mountaincar, pendulum

gym = pytest.importorskip("gymnasium", reason="gymnasium (dev extra) is needed to compare dynamics")


def _gym_state(env: object) -> np.ndarray:
    return np.asarray(env.unwrapped.state, dtype=np.float64).copy()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env_id", "sim", "steps"),
    [("MountainCar-v0", mountaincar, 200), ("Pendulum-v1", pendulum, 200), ("Acrobot-v1", acrobot, 500)],
)
@pytest.mark.parametrize("seed", [0, 7])
def test_trajectory_matches_gymnasium(env_id: str, sim: object, steps: int, seed: int) -> None:
    env = gym.make(env_id)
    env.reset(seed=seed)
    state = _gym_state(env)[None, :]
    free = state.copy()  # never re-synchronised: errors must not accumulate either
    rng = np.random.default_rng(seed)
    compared = 0
    for _ in range(steps):
        if sim.N_ACTIONS:  # type: ignore[attr-defined]
            action = int(rng.integers(sim.N_ACTIONS))  # type: ignore[attr-defined]
            gym_action: object = action
            ours = np.array([action])
        else:
            torque = float(rng.uniform(-2.5, 2.5))  # beyond the limit too, to exercise the clip
            gym_action = np.array([torque], dtype=np.float32)
            ours = np.array([np.float32(torque)], dtype=np.float64)
        state = _gym_state(env)[None, :]
        obs, _, terminated, truncated, _ = env.step(gym_action)
        state, term = sim.step(state, ours)  # type: ignore[attr-defined]
        free, _ = sim.step(free, ours)  # type: ignore[attr-defined]
        # gymnasium's Pendulum computes the torque term in float32, hence 1e-6 rather than 1e-12 per step
        np.testing.assert_allclose(state[0], _gym_state(env), rtol=0, atol=1e-6)
        np.testing.assert_allclose(free[0], _gym_state(env), rtol=0, atol=1e-4)
        np.testing.assert_allclose(sim.observe(state)[0], obs, rtol=0, atol=1e-5)  # type: ignore[attr-defined]
        assert bool(term[0]) == terminated
        compared += 1
        if terminated or truncated:
            break
    assert compared >= 50


@pytest.mark.parametrize("sim", [mountaincar, pendulum, acrobot])
def test_vectorised_step_equals_one_at_a_time(sim: object) -> None:
    """Stepping many environments together must not couple them (a batch bug would leak between envs)."""
    rng = np.random.default_rng(3)
    state = sim.reset(rng, 16)  # type: ignore[attr-defined]
    for _ in range(30):
        action = rng.integers(3, size=16) if sim.N_ACTIONS else rng.uniform(-2, 2, size=16)  # type: ignore[attr-defined]
        batch, term = sim.step(state, action)  # type: ignore[attr-defined]
        for i in range(16):
            single, t1 = sim.step(state[i : i + 1], action[i : i + 1])  # type: ignore[attr-defined]
            np.testing.assert_array_equal(single[0], batch[i])
            assert t1[0] == term[i]
        state = batch


def test_reset_distribution_matches_gymnasium_bounds() -> None:
    rng = np.random.default_rng(0)
    mc = mountaincar.reset(rng, 1000)
    assert mc[:, 0].min() >= -0.6 and mc[:, 0].max() <= -0.4 and not mc[:, 1].any()
    pd = pendulum.reset(rng, 1000)
    assert np.abs(pd[:, 0]).max() <= np.pi and np.abs(pd[:, 1]).max() <= 1.0 and np.abs(pd[:, 0]).max() > 3
    ac = acrobot.reset(rng, 1000)
    assert np.abs(ac).max() <= 0.1 and ac.std() > 0.05
