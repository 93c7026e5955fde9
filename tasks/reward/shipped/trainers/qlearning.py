"""Tile-coded Q-learning over many environments at once (for discrete actions and a low-dimensional state).

The learner: linear Q over 8 offset tilings of a 9x9 grid (Sutton & Barto's MountainCar setup), weights
initialised to 0, epsilon-greedy with random tie-breaking, discount 0.99, one TD(0) update per environment
step, 16 environments sharing the weights. A terminated episode does not bootstrap; one cut off by the time
limit does. The policy is the weight table; acting is greedy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:
    from . import stats
except ImportError:  # inside the sandbox the modules sit side by side
    import stats  # type: ignore[no-redef]

DEFAULTS = {
    "tilings": 8,
    "tiles": 8,
    "envs": 16,
    "steps": 6000,
    "alpha": 0.5,
    "gamma": 0.99,
    "epsilon": 0.05,
    "windows": 10,
}


def _cfg(config: dict | None) -> dict:
    return {**DEFAULTS, **(config or {})}


def policy_shape(sim: object, config: dict | None = None) -> tuple[int, ...]:
    c = _cfg(config)
    per_tiling = (c["tiles"] + 1) ** sim.OBS_DIM  # type: ignore[attr-defined]
    return (c["tilings"] * per_tiling, sim.N_ACTIONS)  # type: ignore[attr-defined]


class Tiler:
    """Maps observations to the active feature of each tiling: (n, tilings) indices into the weight table."""

    def __init__(self, sim: object, c: dict) -> None:
        self.low, self.high = sim.OBS_LOW, sim.OBS_HIGH  # type: ignore[attr-defined]
        dims = len(self.low)
        tilings, self.tiles = c["tilings"], c["tiles"]
        self.scale = self.tiles / (self.high - self.low)
        # asymmetric displacement (1, 3, 5, ...) per tiling, in units of one tile
        self.offsets = (np.arange(tilings)[:, None] * (2 * np.arange(dims) + 1)[None, :] % tilings) / tilings
        self.mult = (self.tiles + 1) ** np.arange(dims - 1, -1, -1)
        self.base = np.arange(tilings) * (self.tiles + 1) ** dims

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        scaled = (np.clip(obs, self.low, self.high) - self.low) * self.scale  # in [0, tiles]
        coords = np.minimum((scaled[:, None, :] + self.offsets[None]).astype(np.int64), self.tiles)
        return (coords * self.mult).sum(axis=2) + self.base


def act(sim: object, policy: np.ndarray, obs: np.ndarray, config: dict | None = None) -> np.ndarray:
    q = policy[Tiler(sim, _cfg(config))(obs)].sum(axis=1)
    return np.argmax(q, axis=1)


def train(
    sim: object,
    reward_fn: Callable,
    seed: int,
    config: dict | None = None,
    randomise: dict[str, list[float]] | None = None,
) -> tuple[np.ndarray, dict]:
    c = _cfg(config)
    rng = np.random.default_rng(seed)
    n, steps, tilings = c["envs"], c["steps"], c["tilings"]
    alpha = c["alpha"] / tilings
    weights = np.zeros(policy_shape(sim, c))
    params = stats.sample_params(sim.PARAMS, randomise, rng, n)  # type: ignore[attr-defined]
    state = sim.reset(rng, n)  # type: ignore[attr-defined]
    obs = sim.observe(state)  # type: ignore[attr-defined]
    tiler = Tiler(sim, c)
    feats = tiler(obs)
    t_ep = np.zeros(n, dtype=np.int64)
    ret = np.zeros(n)
    comp_ret: dict[str, np.ndarray] = {}
    streak = np.zeros(n, dtype=np.int64)
    windows = stats.Windows(c["windows"])
    rows = np.arange(n)
    #: `reward_fn.submit(...)` (optional) sends a call and returns what waits for its result
    submit = getattr(reward_fn, "submit", None)
    for t in range(steps):
        q = weights[feats].sum(axis=1)
        noisy = q + rng.uniform(0, 1e-9, size=q.shape)  # random tie-breaking
        action = np.argmax(noisy, axis=1)
        explore = rng.random(n) < c["epsilon"]
        action = np.where(explore, rng.integers(sim.N_ACTIONS, size=n), action)  # type: ignore[attr-defined]
        next_state, terminated = sim.step(state, action, params)  # type: ignore[attr-defined]
        next_obs = sim.observe(next_state)  # type: ignore[attr-defined]
        if submit is None:
            reward, components = reward_fn(obs, action, next_obs, terminated)
        else:  # a reward in another process computes while this one reads the next state's values
            pending = submit(obs, action, next_obs, terminated)
        next_feats = tiler(next_obs)
        q_next = weights[next_feats].sum(axis=1).max(axis=1)
        if submit is not None:
            reward, components = pending()
        target = reward + c["gamma"] * q_next * (~terminated)
        td = target - q[rows, action]
        np.add.at(weights, (feats, action[:, None]), alpha * td[:, None])
        t_ep += 1
        ret += reward
        for name, value in components.items():
            comp_ret.setdefault(name, np.zeros(n))
            comp_ret[name] += value
        streak = np.where(sim.goal(next_state), streak + 1, 0)  # type: ignore[attr-defined]
        ended = terminated | (t_ep >= sim.MAX_STEPS)  # type: ignore[attr-defined]
        if ended.any():
            success = terminated if not sim.GOAL_HOLD_STEPS else streak >= sim.GOAL_HOLD_STEPS  # type: ignore[attr-defined]
            done_values = {
                "success": success[ended].astype(float),
                "return": ret[ended],
                "length": t_ep[ended],
            }
            done_values.update({f"component:{k}": v[ended] for k, v in comp_ret.items()})
            windows.add(t * c["windows"] // steps, done_values)
            fresh = sim.reset(rng, n)  # type: ignore[attr-defined]
            next_state = np.where(ended[:, None], fresh, next_state)
            next_obs = sim.observe(next_state)  # type: ignore[attr-defined]
            next_feats = tiler(next_obs)
            stats.set_rows(params, stats.sample_params(sim.PARAMS, randomise, rng, n), ended)  # type: ignore[attr-defined]
            t_ep[ended], ret[ended], streak[ended] = 0, 0.0, 0
            for v in comp_ret.values():
                v[ended] = 0.0
        state, obs, feats = next_state, next_obs, next_feats
    return weights, {"trainer": "qlearning", "env_steps": steps * n, "windows": windows.means()}


def evaluate(
    sim: object,
    policy: np.ndarray,
    starts: np.ndarray,
    config: dict | None = None,
    params: dict | None = None,
) -> np.ndarray:
    """Success of the greedy policy from each start state (bool per start)."""
    return _rollout(sim, lambda obs: act(sim, policy, obs, config), starts, params)


def _rollout(sim: object, policy: Callable, starts: np.ndarray, params: dict | None) -> np.ndarray:
    state = starts.copy()
    n = len(state)
    alive = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    streak = np.zeros(n, dtype=np.int64)
    for _ in range(sim.MAX_STEPS):  # type: ignore[attr-defined]
        action = policy(sim.observe(state))  # type: ignore[attr-defined]
        state, terminated = sim.step(state, action, params)  # type: ignore[attr-defined]
        streak = np.where(sim.goal(state), streak + 1, 0)  # type: ignore[attr-defined]
        success |= alive & terminated
        alive &= ~terminated
        if not alive.any():
            break
    if sim.GOAL_HOLD_STEPS:  # type: ignore[attr-defined]
        success = streak >= sim.GOAL_HOLD_STEPS  # type: ignore[attr-defined]
    return success
