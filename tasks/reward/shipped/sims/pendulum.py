"""Pendulum-v1, vectorised: swing a torque-limited pendulum up and keep it upright.

State is float64 `(n, 2)`: angle theta (0 = upright, wraps freely) and angular velocity in [-8, 8]. The
observation is `(n, 3)`: cos(theta), sin(theta), angular velocity. The action is a float torque `(n,)`,
clipped to [-2, 2]. Episodes never terminate early; they last 200 steps. Start: theta uniform in [-pi, pi],
velocity uniform in [-1, 1]. Success: |theta| < 0.3 rad (wrapped) for each of the last 40 steps.
The dynamics match gymnasium's Pendulum-v1 step for step at the nominal PARAMS; `friction` (viscous, in the
joint) is not in gymnasium and is 0 there, so a domain-randomised run can vary all of mass, length, gravity,
actuator strength and friction.
"""

from __future__ import annotations

import numpy as np

OBS_DIM = 3
N_ACTIONS = 0  # continuous torque
MAX_STEPS = 200
#: success: the goal condition holds for this many consecutive steps at the end of the episode
GOAL_HOLD_STEPS = 40
#: physical parameters (a domain-randomised run may pass arrays of shape (n,) instead); `friction` is a
#: viscous joint friction torque per rad/s, 0 in gymnasium's Pendulum-v1
PARAMS = {"g": 10.0, "m": 1.0, "l": 1.0, "max_torque": 2.0, "friction": 0.0}

MAX_SPEED = 8.0
DT = 0.05
UPRIGHT_ANGLE = 0.3
OBS_LOW = np.array([-1.0, -1.0, -MAX_SPEED])
OBS_HIGH = np.array([1.0, 1.0, MAX_SPEED])
#: the functions here that work on observations (defined for code that sees only observations)
OBS_HELPERS = ("angle_normalize", "obs_angle", "goal_reached")


def angle_normalize(x: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def obs_angle(obs: np.ndarray) -> np.ndarray:
    """theta of each observation (n, 3), in [-pi, pi]; 0 is upright."""
    return np.arctan2(obs[:, 1], obs[:, 0])


def reset(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(low=[-np.pi, -1.0], high=[np.pi, 1.0], size=(n, 2))


def observe(state: np.ndarray) -> np.ndarray:
    theta, thetadot = state[:, 0], state[:, 1]
    return np.stack([np.cos(theta), np.sin(theta), thetadot], axis=1)


def step(state: np.ndarray, action: np.ndarray, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Advance every environment one step; returns (next_state, terminated) (never terminated)."""
    p = PARAMS if params is None else params
    th, thdot = state[:, 0], state[:, 1]
    u = np.clip(action, -p["max_torque"], p["max_torque"])
    g, m, length = p["g"], p["m"], p["l"]
    torque = u - p["friction"] * thdot  # exactly u at the nominal friction 0
    newthdot = thdot + (3 * g / (2 * length) * np.sin(th) + 3.0 / (m * length**2) * torque) * DT
    newthdot = np.clip(newthdot, -MAX_SPEED, MAX_SPEED)
    newth = th + newthdot * DT
    return np.stack([newth, newthdot], axis=1), np.zeros(len(state), dtype=bool)


def goal_reached(obs: np.ndarray) -> np.ndarray:
    """True where an observation (n, 3) is upright (the task needs it held for a number of steps in a row):
    `goal` on observations."""
    return np.abs(obs_angle(obs)) < UPRIGHT_ANGLE


def goal(state: np.ndarray) -> np.ndarray:
    return np.abs(angle_normalize(state[:, 0])) < UPRIGHT_ANGLE
