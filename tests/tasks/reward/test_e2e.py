"""`assay run reward/mountaincar` end to end: the second answer improves because of the reflection it got."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import assay
from tests.support.llm_server import ScriptedLLMServer, by_prompt
from tests.verifiers.reward.fixtures import E2E_FEEDBACK_NEEDLE, E2E_IMPROVED_COMPLETION, E2E_WEAK_COMPLETION

#: `assay run` refuses a task that runs candidates without Docker (no unisolated fallback)
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_available")]


def test_reflection_drives_the_improvement(tmp_path: Path) -> None:
    script = by_prompt([(E2E_FEEDBACK_NEEDLE, E2E_IMPROVED_COMPLETION)], default=E2E_WEAK_COMPLETION)
    with ScriptedLLMServer(script) as server:
        proc = assay(
            "run", "reward/mountaincar", "--samples", "1", "--iterations", "2",
            "--model", "openai/scripted", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "r.db"), "--json",
        )  # fmt: skip
        prompts = [r.prompt_text for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    [problem] = json.loads(proc.stdout)["problems"]
    assert len(prompts) == 2
    assert E2E_FEEDBACK_NEEDLE not in prompts[0] and E2E_FEEDBACK_NEEDLE in prompts[1]
    # the weak answer trains to 0; the improved one high, but how high depends on the CPU as well as the
    # seeds: numpy's AVX-512 and AVX2 paths round differently and Q-learning amplifies it (0.997 measured on
    # an AVX-512 machine, 0.887 on an AVX2 one, seeds 0-2: success 0.9 / 0.76 / 1.0; stop 25). So the bound
    # sits well under both, far above the weak answer's 0, and the status is not pinned (it is `ok` only
    # at or above the task's target)
    assert problem["best_score"] >= 0.6 and problem["best_status"] in ("ok", "fail")
    held = problem["held_out"]
    assert held is not None and "baseline_env" in held["metrics"] and "baseline_sparse" in held["metrics"]
    assert held["metrics"]["baseline_sparse"] < held["metrics"]["baseline_env"]
