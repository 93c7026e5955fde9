"""A task's own default target, and the README's custom-task recipe, through the installed `assay` script.

Issue 15 item 9: a task could not say when it is solved, so a pass/fail task kept sampling after a pass
unless every user remembered `--target`; and the recipe for a task of one's own did not work as written
(it needed PYTHONPATH). The plugin here is the documented recipe: a module next to the user, made
importable with PYTHONPATH and registered with ASSAY_TASK_MODULES.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.kernel import ConfigError, Suite
from tests.support.cli import assay, cli_env
from tests.support.llm_server import ScriptedLLMServer

PLUGIN = """
from agent.kernel import Hypothesis, Suite, Task, Verdict, VerdictStatus, fingerprint, task


class Exact:
    name = "exact"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.version = fingerprint("exact", answer)

    async def verify(self, h: Hypothesis) -> Verdict:
        ok = h.content == self.answer
        return Verdict(
            status=VerdictStatus.OK if ok else VerdictStatus.FAIL,
            score=float(ok),
            feedback="" if ok else "not the answer",
        )


@task("mine/capital", "name the capital of France")
def capital() -> Suite:
    problem = Task("mine/capital", "0", "What is the capital of France? One word.", parse=str.strip,
                   verifier=Exact("Paris"))
    return Suite("mine/capital", "name the capital of France", (problem,), default_target=1.0)
"""


def _env(plugin_dir: Path) -> dict[str, str]:
    env = cli_env(ASSAY_TASK_MODULES="my_tasks")
    env["PYTHONPATH"] = str(plugin_dir)  # the recipe's PYTHONPATH=. from the plugin's folder
    return env


def _stored_budget(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        [(config_json,)] = conn.execute("SELECT config_json FROM runs").fetchall()
    budget: dict[str, Any] = json.loads(config_json)["budget"]
    return budget


def _run(tmp_path: Path, name: str, *extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    db = tmp_path / f"{name}.db"
    with ScriptedLLMServer("Paris") as server:
        proc = assay(
            "run", "mine/capital", "--samples", "1", "--iterations", "3", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(db), "--json", *extra,
            env=_env(tmp_path),
        )  # fmt: skip
        calls = len(server.requests)
    assert proc.returncode == 0, proc.stderr
    [problem] = json.loads(proc.stdout)["problems"]
    return {**problem, "calls": calls}, _stored_budget(db)


def test_the_task_default_target_stops_the_search_and_a_flag_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "my_tasks.py").write_text(PLUGIN)
    listed = assay("tasks", env=_env(tmp_path))
    assert listed.returncode == 0 and "mine/capital" in listed.stdout, listed.stderr

    problem, budget = _run(tmp_path, "default")
    assert problem["stop_reason"] == "target_reached" and problem["calls"] == 1
    assert budget["target"] == 1.0  # stored, so a resume keeps it

    problem, budget = _run(tmp_path, "flag", "--target", "2")  # unreachable: the user's target wins
    assert problem["stop_reason"] != "target_reached" and problem["calls"] == 3
    assert budget["target"] == 2.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True])
def test_a_default_target_must_be_a_finite_number(bad: Any) -> None:
    with pytest.raises(ConfigError, match="default_target"):
        Suite("mine/x", "x", (), default_target=bad)
