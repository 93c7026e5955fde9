"""Fail fast on infrastructure, through the installed console script and a scripted OpenAI-format server:
a task whose needs this machine lacks stops before any model request, in one line that says what to
install; and a verifier that fails for infrastructure on every call stops the search after
`infra_breaker` failures, resumably, so `assay resume` judges what the model already answered."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import assay, cli_env
from tests.support.llm_server import ScriptedLLMServer
from tests.support.sandbox import require_docker

MISSING = "assay_test_no_such_module_xyz"

PLUGIN = f'''
import os

from agent.kernel import Hypothesis, SandboxError, Task, Verdict, VerdictStatus, fingerprint, task
from agent.kernel.needs import Needs


class Exact:
    """37 is right; while the file named by ASSAY_TEST_MARKER exists, every call fails for infrastructure."""

    name = "exact-37"
    version = fingerprint("exact-37")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        marker = os.environ.get("ASSAY_TEST_MARKER", "")
        if marker and os.path.exists(marker):
            raise SandboxError("the test's sandbox is down (marker file present)")
        ok = hypothesis.content.strip() == "37"
        return Verdict(status=VerdictStatus.OK if ok else VerdictStatus.FAIL, score=float(ok))


def make(name, needs=Needs(), uses_sandbox=False):
    return Task(name, "0", "Answer with a number.", parse=str.strip, verifier=Exact(), needs=needs,
                uses_sandbox=uses_sandbox)


@task("needs/host-missing", "needs a host module nobody has")
def host_missing():
    return make("needs/host-missing", Needs(host_modules=("{MISSING}",), extra="loss"))


@task("needs/sandbox-missing", "needs a sandbox module nobody has")
def sandbox_missing():
    return make("needs/sandbox-missing", Needs(sandbox_modules=("{MISSING}",)), uses_sandbox=True)


@task("needs/flaky", "its verifier fails for infrastructure while a marker file exists")
def flaky():
    return make("needs/flaky")
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "needs_tasks.py").write_text(PLUGIN)
    base = cli_env(ASSAY_TASK_MODULES="needs_tasks", ASSAY_TEST_MARKER=str(tmp_path / "down"))
    base["PYTHONPATH"] = f"{tmp_path}:{base['PYTHONPATH']}"
    return base


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    return lines[0]


def stop_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The last line of a run that stopped: its progress lines come before it, the error is one line."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert proc.stderr.strip().splitlines()[-1] == line
    return line


def run_args(server: ScriptedLLMServer, db: Path, task: str, *extra: str) -> list[str]:
    return [
        "run", task, "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db),
        *extra,
    ]  # fmt: skip


def test_a_missing_host_module_stops_before_any_model_request(tmp_path: Path, env: dict[str, str]) -> None:
    with ScriptedLLMServer("37") as server:
        proc = assay(*run_args(server, tmp_path / "runs.db", "needs/host-missing"), env=env)
        assert server.requests == []
    line = one_line_error(proc)
    assert MISSING in line and "pip install -e '.[loss]'" in line
    listed = assay("tasks", env=env)
    assert listed.returncode == 0, listed.stderr
    after = listed.stdout.split("needs/host-missing", 1)[1]
    assert f"not ready: missing {MISSING}" in after.splitlines()[1]


def test_a_missing_sandbox_module_stops_before_any_model_request(tmp_path: Path, env: dict[str, str]) -> None:
    with ScriptedLLMServer("37") as server:
        args = run_args(server, tmp_path / "runs.db", "needs/sandbox-missing", "--sandbox", "process")
        proc = assay(*args, env=env)
        assert server.requests == []
    line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, "", _errors(proc.stderr)))
    assert MISSING in line and "sandbox" in line and "pip install" in line
    assert not (tmp_path / "runs.db").exists() or _runs(tmp_path / "runs.db") == 0  # nothing recorded


def _errors(stderr: str) -> str:
    """The process sandbox's one `warning:` line (it does not isolate) is expected; the rest must be one."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("warning: "))


def _runs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


@pytest.mark.docker
def test_a_missing_sandbox_image_stops_before_any_model_request(tmp_path: Path) -> None:
    require_docker()  # the daemon must answer, so that what is missing is the image
    config = tmp_path / "run.yaml"
    config.write_text("sandbox:\n  type: docker\n  image: assay-test-no-such-image:missing\n")
    with ScriptedLLMServer("x") as server:
        args = run_args(server, tmp_path / "runs.db", "code/humaneval", "--problems", "0")
        proc = assay(*args, "--config", str(config))
        assert server.requests == []
    line = one_line_error(proc)
    assert "assay-test-no-such-image:missing" in line and "assay sandbox build" in line


def test_repeated_infrastructure_failures_stop_the_search_and_resume_asks_nothing_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    db = tmp_path / "runs.db"
    config = tmp_path / "run.yaml"
    config.write_text("samples: 2\ninfra_breaker: 3\nverify_retries: 0\ntemperature: 0\n")
    marker = Path(env["ASSAY_TEST_MARKER"])
    marker.write_text("down")
    with ScriptedLLMServer("37") as server:
        args = run_args(server, db, "needs/flaky", "--iterations", "5", "--target", "1")
        args += ["--config", str(config)]
        stopped = assay(*args, "--json", env=env)
        asked = len(server.requests)
        line = stop_line(stopped)
        assert "verifications in a row failed for infrastructure" in line and "assay resume" in line
        assert asked == 4  # iteration 1 (2 failures, recorded), iteration 2 (2 more: tripped, not recorded)
        with sqlite3.connect(db) as conn:
            [(run_id, status, summary)] = conn.execute("SELECT id, status, summary_json FROM runs").fetchall()
            [search] = conn.execute("SELECT status, stop_reason FROM searches").fetchall()
        assert status == "failed" and search == ("stopped", "infrastructure")  # recorded, not finished
        assert json.loads(summary)["stop_reason"] == "infrastructure"

        still_down = assay("resume", run_id, "--db", str(db), env=env)  # the cause is not fixed yet
        assert "in a row failed for infrastructure" in stop_line(still_down)
        assert len(server.requests) == asked  # re-verifying what was answered trips it again, asking nothing

        marker.unlink()  # the cause is fixed
        resumed = assay("resume", run_id, "--db", str(db), "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert len(server.requests) == asked  # every answer was replayed or re-verified, none re-asked
    [problem] = json.loads(resumed.stdout)["problems"]
    assert problem["stop_reason"] == "target_reached" and problem["best_hypothesis"] == "37"
    with sqlite3.connect(db) as conn:
        statuses = [s for (s,) in conn.execute("SELECT status FROM hypotheses ORDER BY iteration, sample")]
        cached = conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
    assert statuses == ["ok", "ok", "ok", "ok"]  # iteration 1's unjudged answers were judged on resume
    assert cached >= 1  # judged verdicts are cached; the infrastructure failures never were
