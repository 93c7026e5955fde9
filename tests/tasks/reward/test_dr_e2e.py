"""`assay run reward/mountaincar-dr` end to end: a scripted model proposes a reward with its randomisation,
and the run's held-out result carries the comparison with and without randomisation and the env's reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import assay
from tests.support.llm_server import ScriptedLLMServer

#: `assay run` refuses a task that runs candidates without Docker (no unisolated fallback)
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_available")]

DR_COMPLETION = """The real car may be weaker or heavier than the simulator, so I randomise the motor force
and gravity around their nominal values, and keep a step cost with energy shaping.

```python
import numpy as np

RANDOMISE = {"force": (0.0006, 0.0014), "gravity": (0.0022, 0.0028)}


def energy(o):
    return (np.sin(3 * o[:, 0]) * 0.45 + 0.55) + 0.5 * o[:, 1] ** 2 / 0.0025


def compute_reward(obs, action, next_obs, done):
    step = -np.ones(len(obs))
    shaping = 0.99 * energy(next_obs) * (~done) - energy(obs)
    return step + shaping, {"step": step, "energy_shaping": shaping}
```
"""


def test_dr_run_reports_the_randomisation_comparison(tmp_path: Path) -> None:
    with ScriptedLLMServer(DR_COMPLETION) as server:
        proc = assay(
            "run", "reward/mountaincar-dr", "--samples", "1", "--iterations", "1",
            "--model", "openai/scripted", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "r.db"), "--json",
        )  # fmt: skip
        prompts = [r.prompt_text for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    assert len(prompts) == 1 and "RANDOMISE = {" in prompts[0] and "force (nominal 0.001" in prompts[0]
    [problem] = json.loads(proc.stdout)["problems"]
    assert problem["best_score"] is not None  # trained with the ranges, scored in the nominal simulator
    held = problem["held_out"]
    assert held is not None and held["score"] == held["metrics"]["real_success"]
    metrics = held["metrics"]
    for key in ("real_success_without_randomisation", "baseline_env_real_success", "margin_vs_env"):
        assert key in metrics
    assert {f"real_success_seed_{s}" for s in range(1000, 1006)} <= set(metrics)
