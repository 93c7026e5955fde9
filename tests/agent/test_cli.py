"""The `assay` command as a user runs it: a real subprocess, a real store file, a real HTTP model server."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import ASSAY, ROOT, assay, cli_env
from tests.support.guesser import bisector
from tests.support.llm_server import Reply, ScriptedLLMServer


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    assert lines[0].startswith("error: ")
    return lines[0]


def test_tasks_lists_names_with_descriptions() -> None:
    proc = assay("tasks")
    assert proc.returncode == 0, proc.stderr
    assert "example/guess" in proc.stdout and "too-low/too-high" in proc.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "nope/task", "--model", "openai/x"], "unknown task 'nope/task'"),
        (
            ["run", "example/guess", "--strategy", "sideways", "--model", "openai/x"],
            "unknown strategy 'sideways'",
        ),
        (["run", "example/guess", "--iterations", "-1", "--model", "openai/x"], "budget.iterations"),
        (["run", "example/guess", "--cost-usd", "-2", "--model", "openai/x"], "budget.cost_usd"),
        (["run", "example/guess", "--problems", "7-9", "--model", "openai/x"], "out of range"),
        (["run", "example/guess", "--config", "/nonexistent/run.yaml"], "cannot read config"),
        (["run", "example/guess", "--model", "openai/gpt-4o-mini"], "OPENAI_API_KEY"),
        (["run", "example/guess", "--model", "anthropic/claude-x"], "ANTHROPIC_API_KEY"),
        (["run", "example/guess", "--model", "martian/x"], "unknown model provider 'martian'"),
        (["show", "no-such-run"], "no run 'no-such-run'"),
    ],
)
def test_bad_input_is_one_line_error(args: list[str], expected: str, tmp_path: Path) -> None:
    line = one_line_error(assay(*args, "--db", str(tmp_path / "runs.db")))
    assert expected in line


def test_broken_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "run.yaml"
    bad.write_text("task: example/guess\nsamples: [unclosed\n")
    assert "cannot parse config" in one_line_error(
        assay("run", "--config", str(bad), "--db", str(tmp_path / "r.db"))
    )
    unknown = tmp_path / "run.toml"
    unknown.write_text('task = "example/guess"\nsampels = 3\n')
    line = one_line_error(assay("run", "--config", str(unknown), "--db", str(tmp_path / "r.db")))
    assert "sampels" in line


def test_store_in_unwritable_directory(tmp_path: Path) -> None:
    line = one_line_error(
        assay("run", "example/guess", "--model", "openai/x", "--db", "/proc/assay-test/runs.db")
    )
    assert "cannot open run store" in line


def test_run_json_show_and_runs(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    config = tmp_path / "run.yaml"
    config.write_text("task: example/guess\nsamples: 2\ntop_k: 8\nbudget:\n  max_iterations: 2\n")
    with ScriptedLLMServer(bisector) as server:
        proc = assay(
            "run", "--config", str(config), "--iterations", "8", "--target", "0", "--problems", "0-1",
            "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db), "--json",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # stdout holds exactly one JSON document
    assert [p["problem"] for p in result["problems"]] == ["example/guess#0", "example/guess#1"]
    for problem in result["problems"]:
        assert problem["stop_reason"] == "target_reached"  # the flag overrode the file's 2 iterations
        assert problem["best_status"] == "ok" and problem["held_out"]["status"] == "ok"
    assert result["solve_rate"] == 1.0
    assert "iter" in proc.stderr  # progress goes to stderr as plain lines when not on a terminal

    shown = json.loads(assay("show", result["run_id"][:12], "--db", str(db), "--json").stdout)
    assert shown["config"]["samples"] == 2 and shown["config"]["budget"]["iterations"] == 8
    assert shown["problems"][0]["history"][-1]["best_score"] == 0.0
    assert shown["problems"][0]["best_hypothesis"] == "37"
    listed = assay("runs", "--db", str(db))
    assert result["run_id"] in listed.stdout and "finished" in listed.stdout


def test_model_failures_end_with_a_reason_not_a_traceback(tmp_path: Path) -> None:
    with ScriptedLLMServer(Reply.server_error()) as server:
        proc = assay(
            "run", "example/guess", "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
            "--db", str(tmp_path / "r.db"), "--json",
        )  # fmt: skip
    # the run did not complete: exit 3 (not 0), one line with the provider's reason and how to continue
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "HTTP 500" in last and "assay resume" in last


def _verdict_rows(db: Path) -> list[tuple[str, str, float]]:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT hypothesis_id, verifier, created FROM verdicts ORDER BY created"
            ).fetchall()
    except sqlite3.OperationalError:  # the run has not created its schema yet
        return []


def test_kill_9_then_resume_loses_and_redoes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    env = cli_env(ASSAY_EXAMPLE_VERIFY_DELAY="0.4")
    with ScriptedLLMServer(bisector) as server:
        args = ["run", "example/guess", "--problems", "0-1", "--samples", "2", "--iterations", "5",
                "--seed", "3", "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
                "--db", str(db)]  # fmt: skip
        proc = subprocess.Popen(
            [ASSAY, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (not db.exists() or len(_verdict_rows(db)) < 3):
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)  # only the CLI process we started
            proc.wait()
        before = _verdict_rows(db)
        assert len(before) >= 3
        with sqlite3.connect(db) as conn:
            run_id, status = conn.execute("SELECT id, status FROM runs").fetchone()
            recorded = [
                (json.loads(params)["seed"], json.loads(messages)[-1]["content"])
                for params, messages in conn.execute("SELECT params_json, messages_json FROM llm_calls")
            ]
        assert status == "running"

        resumed = assay("resume", run_id, "--db", str(db), "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        result = json.loads(resumed.stdout)
        assert result["status"] == "finished" and len(result["problems"]) == 2
        after = _verdict_rows(db)
        assert set(before) <= set(after)  # every verdict from before the kill is still there, untouched
        # no recorded completion was requested again: each seed recorded before the kill was sent exactly once
        # (a request cut off by the kill may have reached the server without a complete body)
        sent = [
            (r.body["seed"], r.body["messages"][-1]["content"]) for r in server.requests if "seed" in r.body
        ]
        assert all(sent.count(call) == 1 for call in recorded)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "finished"
        iterations = conn.execute("SELECT COUNT(*) FROM iterations").fetchone()[0]
    assert iterations == sum(p["iterations"] for p in result["problems"])
