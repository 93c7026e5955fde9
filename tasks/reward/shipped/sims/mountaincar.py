"""MountainCar-v0, vectorised: an under-powered car must drive back and forth to climb the right hill.

State is float64 `(n, 2)`: position in [-1.2, 0.6] and velocity in [-0.07, 0.07]. The observation is the
state itself. Actions are integers `(n,)`: 0 push left, 1 no push, 2 push right. An episode terminates
when the car reaches position >= 0.5 (the flag) and is cut off after 200 steps. Start: position uniform in
[-0.6, -0.4], velocity 0. The dynamics match gymnasium's MountainCar-v0 step for step.
"""

from __future__ import annotations

import numpy as np

OBS_DIM = 2
N_ACTIONS = 3
MAX_STEPS = 200
#: 0: success means terminating at the goal within MAX_STEPS
GOAL_HOLD_STEPS = 0
#: physical parameters; a domain-randomised run may pass arrays of shape (n,) instead
PARAMS = {"force": 0.001, "gravity": 0.0025}

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
OBS_LOW = np.array([MIN_POSITION, -MAX_SPEED])
OBS_HIGH = np.array([MAX_POSITION, MAX_SPEED])
#: the functions here that work on observations (defined for code that sees only observations)
OBS_HELPERS = ("height", "goal_reached")


def height(position: np.ndarray) -> np.ndarray:
    """The hill's height at each position (gymnasium's `_height`); the slope the car feels is its shape."""
    return np.sin(3 * position) * 0.45 + 0.55


def reset(rng: np.random.Generator, n: int) -> np.ndarray:
    state = np.zeros((n, 2))
    state[:, 0] = rng.uniform(-0.6, -0.4, size=n)
    return state


def observe(state: np.ndarray) -> np.ndarray:
    return state.copy()


def step(state: np.ndarray, action: np.ndarray, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Advance every environment one step; returns (next_state, terminated)."""
    p = PARAMS if params is None else params
    position, velocity = state[:, 0], state[:, 1]
    velocity = velocity + (action - 1) * p["force"] + np.cos(3 * position) * (-p["gravity"])
    velocity = np.clip(velocity, -MAX_SPEED, MAX_SPEED)
    position = np.clip(position + velocity, MIN_POSITION, MAX_POSITION)
    velocity = np.where((position == MIN_POSITION) & (velocity < 0), 0.0, velocity)
    next_state = np.stack([position, velocity], axis=1)
    return next_state, goal(next_state)


def goal_reached(obs: np.ndarray) -> np.ndarray:
    """True where an observation (n, 2) has reached the goal (the flag, moving right): `goal` on
    observations."""
    return (obs[:, 0] >= GOAL_POSITION) & (obs[:, 1] >= 0)


def goal(state: np.ndarray) -> np.ndarray:
    return (state[:, 0] >= GOAL_POSITION) & (state[:, 1] >= 0)
