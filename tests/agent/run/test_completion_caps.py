"""A task's own completion cap (issue 12): `Task.completion_tokens` is the `max_tokens` a run asks for unless
the user gives `--completion-tokens` (or `completion_tokens` in the config file); the recorded config says
which applied (`completion_tokens_from`) and a resume keeps it. Through the installed console script, with
the `max_tokens` the scripted model server received."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.kernel.errors import ConfigError
from agent.kernel.task import Task
from tests.agent.run.test_cli_run import run_id_of, stored_config
from tests.support.cli import assay, cli_env
from tests.support.guesser import bisector
from tests.support.llm_server import ScriptedLLMServer

PLUGIN = """
from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task


class Exact:
    name = "exact-37"
    version = fingerprint("exact-37")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        ok = hypothesis.content.strip() == "37"
        return Verdict(status=VerdictStatus.OK if ok else VerdictStatus.FAIL, score=float(ok))


@task("caps/short", "an answer that fits in 200 tokens")
def make() -> Task:
    return Task("caps/short", "0", "Answer with a number.", parse=str.strip, verifier=Exact(),
                completion_tokens=200)
"""


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "cap_tasks.py").write_text(PLUGIN)
    env = cli_env(ASSAY_TASK_MODULES="cap_tasks")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    return env


def sent_max_tokens(
    db: Path, env: dict[str, str], task: str, *extra: str, answer: str = "12"
) -> tuple[set[object], subprocess.CompletedProcess[str]]:
    with ScriptedLLMServer(answer) as server:
        proc = assay(
            "run", task, "--samples", "1", "--iterations", "2", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(db), *extra, env=env,
        )  # fmt: skip
        sent = {r.body.get("max_tokens") for r in server.requests}
    assert proc.returncode == 0, proc.stderr
    return sent, proc


def test_the_tasks_cap_applies_unless_the_user_gives_one(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    db = tmp_path / "task.db"
    sent, _ = sent_max_tokens(db, plugin_env, "caps/short")
    assert sent == {200}
    config = stored_config(db)
    assert (config["completion_tokens"], config["completion_tokens_from"]) == (200, "task")

    flag = tmp_path / "flag.db"
    sent, _ = sent_max_tokens(flag, plugin_env, "caps/short", "--completion-tokens", "64")
    assert sent == {64}  # the flag wins
    config = stored_config(flag)
    assert (config["completion_tokens"], config["completion_tokens_from"]) == (64, "config")

    file, from_file = tmp_path / "c.yaml", tmp_path / "file.db"
    file.write_text("completion_tokens: 300\n")
    sent, _ = sent_max_tokens(from_file, plugin_env, "caps/short", "--config", str(file))
    assert sent == {300}  # so does the config file
    assert stored_config(from_file)["completion_tokens_from"] == "config"


def test_a_task_without_a_cap_gets_the_default(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        proc = assay(
            "run", "example/guess", "--samples", "1", "--iterations", "2", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(db),
        )  # fmt: skip
        sent = {r.body.get("max_tokens") for r in server.requests}
    assert proc.returncode == 0, proc.stderr
    assert sent == {1024}
    config = stored_config(db)
    assert (config["completion_tokens"], config["completion_tokens_from"]) == (1024, "default")


def test_resume_keeps_the_recorded_cap(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    db = tmp_path / "runs.db"
    sent_max_tokens(db, plugin_env, "caps/short")
    with ScriptedLLMServer("37") as server:
        resumed = assay(
            "resume", run_id_of(db), "--db", str(db), "--iterations", "3",
            "--base-url", server.openai_base_url, env=plugin_env,
        )  # fmt: skip
        sent = {r.body.get("max_tokens") for r in server.requests}
    assert resumed.returncode == 0, resumed.stderr
    assert sent == {200}
    assert stored_config(db)["completion_tokens_from"] == "task"


@pytest.mark.parametrize("cap", [0, -5, True, 2.5])
def test_a_task_cap_must_be_a_positive_integer(cap: object) -> None:
    with pytest.raises(ConfigError, match="completion_tokens"):
        Task("t", "0", "x", parse=str.strip, verifier=_Any(), completion_tokens=cap)  # type: ignore[arg-type]


class _Any:
    name = "any"
    version = "1"

    async def verify(self, hypothesis: object) -> object:
        raise AssertionError("never called")
