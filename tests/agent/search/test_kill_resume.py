"""kill -9 of an `assay run` evolve search in the middle, then `assay resume`: the run ends with the same
archive (ids, iterations, samples, meta with islands, parents, verdicts) as one that was never killed.
Real console-script subprocesses, a real SQLite store file, the scripted OpenAI-wire model server."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from agent.store.sqlite import Store
from tests.support.cli import ASSAY, ROOT, assay, cli_env
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer

KEY = "example/guess#0"
CONFIG = 'strategy = "evolve"\nislands = 2\nmigration_interval = 2\ntop_k = 2\ndiverse_k = 1\n'


def wanderer(request: RecordedRequest) -> str:
    """A deterministic 'model': the parent's guess moved by a step drawn from the prompt and the seed, so a
    replayed prompt gets the same answer whatever order requests arrive in (and it rarely hits the secret,
    so the search runs its iterations)."""
    section = request.prompt_text.split("## The program to improve", 1)[-1]
    found = re.search(r"```\n(-?\d+)\n```", section)
    parent = int(found.group(1)) if found else 50
    digest = hashlib.sha256(f"{request.prompt_text}|{request.body.get('seed')}".encode()).digest()
    return f"ANSWER: {max(0, min(100, parent + digest[0] % 21 - 10))}"


def args(server: ScriptedLLMServer, db: Path, config: Path) -> list[str]:
    return [
        "run", "example/guess", "--problems", "0", "--samples", "2", "--iterations", "6", "--seed", "3",
        "--target", "1000", "--config", str(config), "--model", "openai/gpt-test",
        "--base-url", server.openai_base_url, "--db", str(db), "--json",
    ]  # fmt: skip


def archive(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        [(run_id,)] = conn.execute("SELECT id FROM runs").fetchall()
    with Store(db) as store:
        return [
            (e.hypothesis.iteration, e.sample, e.hypothesis.id, e.hypothesis.meta, e.hypothesis.parent_ids,
             e.verdict.status, e.verdict.score, e.verdict.feedback)
            for e in store.hypotheses(run_id, KEY)
        ]  # fmt: skip


def hypothesis_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM hypotheses").fetchone()[0])
    except sqlite3.OperationalError:  # the run has not created its schema yet
        return 0


def test_kill_9_of_an_evolve_run_then_resume_ends_with_the_uninterrupted_archive(tmp_path: Path) -> None:
    config = tmp_path / "evolve.toml"
    config.write_text(CONFIG)
    env = cli_env(ASSAY_EXAMPLE_VERIFY_DELAY="0.5")
    whole_db, killed_db = tmp_path / "whole.db", tmp_path / "killed.db"
    with ScriptedLLMServer(wanderer) as server:
        done = assay(*args(server, whole_db, config), env=env)
        assert done.returncode == 0, done.stderr
    expected = archive(whole_db)
    assert len(expected) == 6 * 2 and {row[3]["island"] for row in expected} == {0, 1}

    with ScriptedLLMServer(wanderer) as server:
        proc = subprocess.Popen(
            [ASSAY, *args(server, killed_db, config)], env=env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None and hypothesis_rows(killed_db) < 5:
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)  # only the CLI process we started
            proc.wait()
        with sqlite3.connect(killed_db) as conn:
            run_id, status = conn.execute("SELECT id, status FROM runs").fetchone()
        assert status == "running"  # killed in the middle: nothing marked the run finished
        assert 5 <= hypothesis_rows(killed_db) < len(expected)
        resumed = assay("resume", run_id, "--db", str(killed_db), "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["status"] == "finished"
    assert archive(killed_db) == expected
