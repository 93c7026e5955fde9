"""Sandboxes for the reward tests: the process sandbox always, Docker when a daemon and the image exist."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agent.kernel.sandbox import Job, Limits, Sandbox
from sandboxes.availability import docker_status
from sandboxes.config import DEFAULT_IMAGE, DockerSandboxConfig, ProcessSandboxConfig

PROBE = Job(command=["python3", "-c", "import numpy"], limits=Limits(wall_s=30))


def _build(kind: str) -> Sandbox:
    if kind == "docker":
        status = docker_status(DEFAULT_IMAGE)
        if not status.usable:
            pytest.skip(f"docker sandbox unavailable: {status.reason}")
        return DockerSandboxConfig().build()
    return ProcessSandboxConfig(pool_size=2).build()


@pytest.fixture(
    scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)], ids=lambda k: k
)
def reward_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """One sandbox per module and kind, checked to run numpy jobs (the simulators need it)."""
    sandbox = _build(request.param)
    try:
        probe = asyncio.run(sandbox.run(PROBE))
        if not probe.ok:
            pytest.skip(f"{request.param} sandbox jobs cannot import numpy: {probe.stderr.strip()[-300:]}")
        yield sandbox
    finally:
        asyncio.run(sandbox.close())


# Completions a scripted model server can return for an end-to-end `refine` run on reward/mountaincar:
# the first is the sparse goal-only reward (mean success 0.0 on the search seeds); the second, to be sent
# once the prompt carries the reflection (it contains E2E_FEEDBACK_NEEDLE), adds a step cost and
# potential-based energy shaping (mean success 0.997 on seeds 0, 1, 2, measured).
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
