"""Data for the reward tests: completions for an end-to-end search (sandboxes come from tests/conftest.py)."""

from __future__ import annotations

# Completions a scripted model server can return for an end-to-end `refine` run on reward/mountaincar:
# the first is the sparse goal-only reward (mean success 0.0 on the search seeds); the second, to be sent
# once the prompt carries the reflection (it contains E2E_FEEDBACK_NEEDLE), adds a step cost and
# potential-based energy shaping (mean success on seeds 0, 1, 2 measured: 0.997 on an AVX-512 machine,
# 0.887 on an AVX2 one: numpy's SIMD paths differ in rounding, and training amplifies it).
E2E_FEEDBACK_NEEDLE = "task success rate: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"

E2E_WEAK_COMPLETION = """The car only needs to reach the flag, so reward exactly that.

```python
import numpy as np


def compute_reward(obs, action, next_obs, done):
    goal = done.astype(np.float64)
    return goal, {"goal": goal}
```
"""

E2E_IMPROVED_COMPLETION = """The feedback shows the success rate stayed at 0 and the goal component never
changed: the trainer never reaches the flag by chance, so a goal-only reward gives it nothing to learn from.
I add a cost per step (so ending the episode early pays) and potential-based shaping on the car's mechanical
energy, which rewards building up the swing without changing which policy is optimal.

```python
import numpy as np


def energy(o):
    height = np.sin(3 * o[:, 0]) * 0.45 + 0.55
    return height + 0.5 * o[:, 1] ** 2 / 0.0025


def compute_reward(obs, action, next_obs, done):
    step = -np.ones(len(obs))
    shaping = 0.99 * energy(next_obs) * (~done) - energy(obs)
    return step + shaping, {"step": step, "energy_shaping": shaping}
```
"""
