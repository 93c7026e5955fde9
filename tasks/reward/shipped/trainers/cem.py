"""Cross-entropy method over a small MLP policy (for continuous or discrete actions).

The learner: policy obs -> tanh(hidden) -> action, a diagonal Gaussian over its weights, initial std 0.5;
each generation samples a population of weight vectors, runs each for a few whole episodes from shared
random starts, and refits the Gaussian to the elite fraction ranked by *undiscounted episode return of the
reward being evaluated* (an episode stops at termination or at the time limit). A continuous action is
`max_torque * tanh(output)`; a discrete one is the argmax of the outputs. The policy is the final mean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:
    from . import stats
except ImportError:  # inside the sandbox the modules sit side by side
    import stats  # type: ignore[no-redef]

DEFAULTS = {
    "hidden": 8,
    "population": 48,
    "episodes": 3,
    "generations": 30,
    "elite": 0.2,
    "init_std": 0.5,
    "extra_std": 0.02,
    "windows": 10,
}


def _cfg(config: dict | None) -> dict:
    return {**DEFAULTS, **(config or {})}


def _dims(sim: object, c: dict) -> tuple[int, int, int]:
    out = sim.N_ACTIONS or 1  # type: ignore[attr-defined]
    return sim.OBS_DIM, c["hidden"], out  # type: ignore[attr-defined]


def policy_shape(sim: object, config: dict | None = None) -> tuple[int, ...]:
    o, h, a = _dims(sim, _cfg(config))
    return (o * h + h + h * a + a,)


def _unpack(sim: object, theta: np.ndarray, c: dict) -> tuple[np.ndarray, ...]:
    """Split weight vectors (p, d) into per-row layers, the input scaling folded into the first layer."""
    o, h, a = _dims(sim, c)
    p = theta.shape[0]
    cuts = np.cumsum([o * h, h, h * a])
    w1, b1, w2, b2 = np.split(theta, cuts, axis=1)
    w1 = w1.reshape(p, o, h) / sim.OBS_HIGH[None, :, None]  # type: ignore[attr-defined]
    return w1, b1[:, None, :], w2.reshape(p, h, a), b2[:, None, :]


def _forward(sim: object, layers: tuple[np.ndarray, ...], obs: np.ndarray) -> np.ndarray:
    """Actions for obs (p, k, obs_dim): row i of obs is acted on by weight vector i."""
    w1, b1, w2, b2 = layers
    out = np.matmul(np.tanh(np.matmul(obs, w1) + b1), w2) + b2
    if sim.N_ACTIONS:  # type: ignore[attr-defined]
        return np.argmax(out, axis=2)
    # the nominal torque range; the simulator clips to the (possibly randomised) actuator limit
    return sim.PARAMS["max_torque"] * np.tanh(out[:, :, 0])  # type: ignore[attr-defined]


def _episodes(
    sim: object,
    theta: np.ndarray,
    starts: np.ndarray,
    c: dict,
    params: dict | None,
    reward_fn: Callable | None,
) -> dict[str, np.ndarray]:
    """Run every weight vector from every start: per (p*k) episode success, return, length, components.

    The reward does not steer the rollouts (CEM only ranks whole episodes), so it is asked once, after
    them, for every step of every episode still running at that step: one batch per generation."""
    p = theta.shape[0]
    k = starts.shape[0] // p
    state = starts.copy()
    n = len(state)
    alive = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    streak = np.zeros(n, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    trace: list[tuple[np.ndarray, ...]] = []
    layers = _unpack(sim, theta, c)
    for _ in range(sim.MAX_STEPS):  # type: ignore[attr-defined]
        obs = sim.observe(state)  # type: ignore[attr-defined]
        action = _forward(sim, layers, obs.reshape(p, k, -1)).reshape(n)
        next_state, terminated = sim.step(state, action, params)  # type: ignore[attr-defined]
        if reward_fn is not None:
            rows = np.flatnonzero(alive)
            trace.append((rows, obs[rows], action[rows], sim.observe(next_state[rows]), terminated[rows]))  # type: ignore[attr-defined]
        length += alive
        streak = np.where(sim.goal(next_state), streak + 1, 0)  # type: ignore[attr-defined]
        success |= alive & terminated
        alive &= ~terminated
        state = next_state
        if not alive.any():
            break
    if sim.GOAL_HOLD_STEPS:  # type: ignore[attr-defined]
        success = streak >= sim.GOAL_HOLD_STEPS  # type: ignore[attr-defined]
    out = {"success": success.astype(float), "length": length.astype(float)}
    if reward_fn is not None:
        out.update(_returns(reward_fn, trace, n))
    return out


def _returns(reward_fn: Callable, trace: list[tuple[np.ndarray, ...]], n: int) -> dict[str, np.ndarray]:
    """Each episode's undiscounted return (and per-component sums) from one call over all its live steps."""
    rows, obs, action, next_obs, done = (np.concatenate(parts) for parts in zip(*trace, strict=True))
    reward, components = reward_fn(obs, action, next_obs, done)
    # bincount adds each episode's steps in step order, as a running sum over the steps would
    out = {"return": np.bincount(rows, weights=reward, minlength=n)}
    for name, value in components.items():
        out[f"component:{name}"] = np.bincount(rows, weights=value, minlength=n)
    return out


def train(
    sim: object,
    reward_fn: Callable,
    seed: int,
    config: dict | None = None,
    randomise: dict[str, list[float]] | None = None,
) -> tuple[np.ndarray, dict]:
    c = _cfg(config)
    rng = np.random.default_rng(seed)
    d = policy_shape(sim, c)[0]
    pop, k, gens = c["population"], c["episodes"], c["generations"]
    n_elite = max(2, round(pop * c["elite"]))
    mean = np.zeros(d)
    std = np.full(d, c["init_std"])
    windows = stats.Windows(c["windows"])
    for g in range(gens):
        theta = mean + std * rng.standard_normal((pop, d))
        starts = np.repeat(sim.reset(rng, k)[None], pop, axis=0).reshape(pop * k, -1)  # type: ignore[attr-defined]
        params = stats.sample_params(sim.PARAMS, randomise, rng, pop * k)  # type: ignore[attr-defined]
        result = _episodes(sim, theta, starts, c, params, reward_fn)
        windows.add(g * c["windows"] // gens, result)
        score = result["return"].reshape(pop, k).mean(axis=1)
        elite = theta[np.argsort(-score, kind="stable")[:n_elite]]
        mean = elite.mean(axis=0)
        std = elite.std(axis=0) + c["extra_std"]
    return mean, {"trainer": "cem", "env_steps": None, "windows": windows.means()}


def evaluate(
    sim: object,
    policy: np.ndarray,
    starts: np.ndarray,
    config: dict | None = None,
    params: dict | None = None,
) -> np.ndarray:
    """Success of the mean policy from each start state (bool per start)."""
    c = _cfg(config)
    theta = np.repeat(policy[None, :], len(starts), axis=0)
    # one weight row per start: _episodes pairs row i of theta with start i
    return _episodes(sim, theta, starts, c, params, None)["success"].astype(bool)
