"""What a new user meets when something goes wrong, through the installed `assay` console script (issue 15):
usage errors and bad values are one line with exit 2; a run stopped by the model (an outage, a bad server)
is resumable, exits 3 and says how to continue; `assay resume` takes budget flags that extend the run; a cost
limit needs a price; a task without a held-out check says so; store faults are one line each."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import ASSAY, ROOT, assay, cli_env, exact_answer_plugin
from tests.support.guesser import bisector
from tests.support.llm_server import Reply, ScriptedLLMServer

#: a run that fails fast: no retries, so a failing server stops it in one request
FAST = "max_retries: 0\n"


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def guess_args(server: ScriptedLLMServer, db: Path, *extra: str) -> list[str]:
    return [
        "run", "example/guess", "--samples", "1", "--model", "openai/gpt-test",
        "--base-url", server.openai_base_url, "--db", str(db), *extra,
    ]  # fmt: skip


def run_row(db: Path) -> tuple[str, str, str]:
    with sqlite3.connect(db) as conn:
        [(run_id, status, config)] = conn.execute("SELECT id, status, config_json FROM runs").fetchall()
    return run_id, status, config


def test_usage_errors_and_bad_values_are_one_line_with_exit_2(tmp_path: Path) -> None:
    misspelt = one_line_error(assay("run", "math/derivative", "--sample", "3"))
    assert "No such option: --sample" in misspelt and "--samples" in misspelt
    assert "--samples" in one_line_error(assay("run", "math/derivative", "--samples", "abc"))
    config = tmp_path / "c.yaml"
    config.write_text("budget: 5\n")
    assert "budget" in one_line_error(assay("run", "math/derivative", "--config", str(config)))
    nan = one_line_error(assay("run", "math/derivative", "--temperature", "nan"))
    assert "temperature" in nan and "finite" in nan and "<= 2" not in nan
    assert "problems" in one_line_error(assay("run", "math/derivative", "--problems", ""))
    assert "no run '_'" in one_line_error(assay("show", "_", "--db", str(tmp_path / "none.db")))


def test_a_model_error_stops_resumably_and_resume_continues_with_another_server(tmp_path: Path) -> None:
    db, config = tmp_path / "runs.db", tmp_path / "fast.yaml"
    config.write_text(FAST)
    with ScriptedLLMServer(Reply.reset()) as broken:
        stopped = assay(*guess_args(broken, db, "--iterations", "3", "--config", str(config)))
    line = one_line_error(stopped, code=3)
    run_id, status, _ = run_row(db)
    assert status == "model_error"
    assert f"assay resume {run_id}" in line
    reason = line.split("connection failed:", 1)[1].split(";")[0].strip()
    assert reason, line  # a reset connection still says why

    with ScriptedLLMServer(bisector) as server:
        resumed = assay(
            "resume", run_id, "--db", str(db), "--base-url", server.openai_base_url,
            "--request-timeout", "30", "--json",
        )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "finished" and result["problems"][0]["iterations"] >= 1
    stored = json.loads(run_row(db)[2])
    assert stored["base_url"] == server.openai_base_url and stored["request_timeout_s"] == 30


def test_resume_with_a_larger_budget_lets_a_finished_search_go_on(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer("ANSWER: 0") as server:  # never right: only the budget stops it
        first = assay(*guess_args(server, db, "--iterations", "1", "--json"))
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["problems"][0]["iterations"] == 1
        run_id = run_row(db)[0]
        more = assay("resume", run_id, "--db", str(db), "--iterations", "3", "--json")
    assert more.returncode == 0, more.stderr
    [problem] = json.loads(more.stdout)["problems"]
    assert problem["iterations"] == 3 and problem["stop_reason"] == "max_iterations"
    assert json.loads(run_row(db)[2])["budget"]["iterations"] == 3


def test_a_cost_limit_needs_a_price_and_an_unknown_cost_is_shown_as_unknown(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer("ANSWER: 0") as server:
        refused = assay(*guess_args(server, db, "--cost-usd", "0.0001"))
        assert "no known price" in one_line_error(refused) and "--price-in" in refused.stderr
        assert not server.requests
        priced = assay(
            *guess_args(server, db, "--cost-usd", "0.0001", "--iterations", "50", "--price-in", "100",
                        "--price-out", "100", "--json"),
        )  # fmt: skip
        assert priced.returncode == 0, priced.stderr
        [problem] = json.loads(priced.stdout)["problems"]
        assert problem["stop_reason"] == "max_cost" and problem["cost_usd"] >= 0.0001
        unpriced = assay(*guess_args(server, tmp_path / "other.db", "--iterations", "1", "--json"))
    assert unpriced.returncode == 0, unpriced.stderr
    assert json.loads(unpriced.stdout)["problems"][0]["cost_usd"] is None
    assert "cost unknown" in unpriced.stderr and "$0.0000" not in unpriced.stderr


PLUGIN = exact_answer_plugin("mine/plain", "a task without a held-out check")


def test_a_task_without_a_held_out_check_says_there_is_none(tmp_path: Path) -> None:
    (tmp_path / "plain_assay_tasks.py").write_text(PLUGIN)
    env = cli_env(ASSAY_TASK_MODULES="plain_assay_tasks")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    with ScriptedLLMServer("37") as server:
        proc = assay(
            "run", "mine/plain", "--samples", "1", "--iterations", "1", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(tmp_path / "runs.db"), env=env,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "no held-out check" in proc.stdout and "on the held-out check" not in proc.stdout


def test_random_bytes_in_the_store_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        assert assay(*guess_args(server, db, "--iterations", "2")).returncode == 0
    run_id = run_row(db)[0]
    data = bytearray(db.read_bytes())
    data[4096:] = bytes((i * 37 + 11) % 256 for i in range(len(data) - 4096))  # every page but the first
    db.write_bytes(bytes(data))
    for args in (("show", run_id), ("runs",), ("resume", run_id)):
        proc = assay(*args, "--db", str(db))
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)


def test_a_full_disk_stops_the_run_in_one_line_with_a_status_that_says_so(tmp_path: Path) -> None:
    """A real full disk: the store lives on a 1 MiB tmpfs that bubblewrap mounts for the `assay` process
    (we cannot fill the machine's disk; a file-size rlimit gives EFBIG, which SQLite reports as an I/O
    error, not as a full disk)."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (scripts/setup.sh installs it)")
    small = tmp_path / "small"
    small.mkdir()
    db = small / "runs.db"
    with ScriptedLLMServer("ANSWER: 0") as server:
        proc = subprocess.run(
            ["bwrap", "--dev-bind", "/", "/", "--size", str(1 << 20), "--tmpfs", str(small),
             ASSAY, *guess_args(server, db, "--iterations", "5000", "--samples", "8"),
             "--completion-tokens", "16"],
            capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=600,
        )  # fmt: skip
    if "Creating new namespace failed" in proc.stderr or "bwrap:" in proc.stderr.split("\n", 1)[0]:
        pytest.skip(f"bubblewrap cannot make a mount namespace here: {proc.stderr.strip()[:200]}")
    line = one_line_error(proc, code=3)
    assert "full" in line and "assay resume" in line
