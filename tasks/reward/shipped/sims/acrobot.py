"""Acrobot-v1, vectorised: a two-link chain, actuated only at the middle joint, must swing its tip up.

State is float64 `(n, 4)`: theta1 (first link, 0 = hanging down), theta2 (relative to the first link), and
their angular velocities (bounded by 4*pi and 9*pi). The observation is `(n, 6)`: cos(theta1), sin(theta1),
cos(theta2), sin(theta2), dtheta1, dtheta2. Actions are integers `(n,)`: torque -1, 0, +1 on the middle
joint. An episode terminates when the tip rises above the line one link length above the pivot
(-cos(theta1) - cos(theta1 + theta2) > 1) and is cut off after 500 steps. Start: all four state variables
uniform in [-0.1, 0.1]. Integration: one RK4 step of dt = 0.2. Matches gymnasium's Acrobot-v1 step for step.
"""

from __future__ import annotations

import numpy as np

OBS_DIM = 6
N_ACTIONS = 3
MAX_STEPS = 500
GOAL_HOLD_STEPS = 0
PARAMS = {"m1": 1.0, "m2": 1.0, "l1": 1.0, "g": 9.8, "torque": 1.0}

DT = 0.2
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
MAX_VEL_1 = 4 * np.pi
MAX_VEL_2 = 9 * np.pi
OBS_LOW = np.array([-1.0, -1.0, -1.0, -1.0, -MAX_VEL_1, -MAX_VEL_2])
OBS_HIGH = -OBS_LOW
#: the functions here that work on observations (defined for code that sees only observations)
OBS_HELPERS = ("tip_height", "goal_reached")


def reset(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(-0.1, 0.1, size=(n, 4)).astype(np.float32).astype(np.float64)


def observe(state: np.ndarray) -> np.ndarray:
    t1, t2 = state[:, 0], state[:, 1]
    return np.stack([np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2), state[:, 2], state[:, 3]], axis=1)


def _dsdt(s: np.ndarray, a: np.ndarray, p: dict) -> np.ndarray:
    m1, m2, l1, g = p["m1"], p["m2"], p["l1"], p["g"]
    lc1, lc2, i1, i2 = LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI
    theta1, theta2, dtheta1, dtheta2 = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - np.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * np.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - np.pi / 2)
        + phi2
    )
    ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * np.sin(theta2) - phi2) / (
        m2 * lc2**2 + i2 - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], axis=1)


def _wrap(x: np.ndarray, low: float, high: float) -> np.ndarray:
    diff = high - low
    while np.any(x > high):
        x = np.where(x > high, x - diff, x)
    while np.any(x < low):
        x = np.where(x < low, x + diff, x)
    return x


def step(state: np.ndarray, action: np.ndarray, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Advance every environment one RK4 step; returns (next_state, terminated)."""
    p = PARAMS if params is None else params
    torque = (np.asarray(action) - 1.0) * p["torque"]
    dt2 = DT / 2.0
    k1 = _dsdt(state, torque, p)
    k2 = _dsdt(state + dt2 * k1, torque, p)
    k3 = _dsdt(state + dt2 * k2, torque, p)
    k4 = _dsdt(state + DT * k3, torque, p)
    ns = state + DT / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    ns[:, 0] = _wrap(ns[:, 0], -np.pi, np.pi)
    ns[:, 1] = _wrap(ns[:, 1], -np.pi, np.pi)
    ns[:, 2] = np.clip(ns[:, 2], -MAX_VEL_1, MAX_VEL_1)
    ns[:, 3] = np.clip(ns[:, 3], -MAX_VEL_2, MAX_VEL_2)
    return ns, goal(ns)


def tip_height(obs: np.ndarray) -> np.ndarray:
    """Height of the tip above the pivot for each observation (n, 6), in link lengths: -2 hanging down,
    +2 straight up; the goal is reached above 1. (-cos(theta1) - cos(theta1 + theta2), from the cosines.)"""
    cos1, sin1, cos2, sin2 = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, 3]
    return -cos1 - (cos1 * cos2 - sin1 * sin2)


def goal_reached(obs: np.ndarray) -> np.ndarray:
    """True where an observation (n, 6) has the tip above 1 (the goal): `goal` on observations."""
    return tip_height(obs) > 1.0


def goal(state: np.ndarray) -> np.ndarray:
    return -np.cos(state[:, 0]) - np.cos(state[:, 1] + state[:, 0]) > 1.0
