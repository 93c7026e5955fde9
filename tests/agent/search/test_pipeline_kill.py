"""kill -9 of a pipelined `assay run` (`--loop pipelined`) in the middle, then `assay resume`: the run ends
with the same hypotheses and verdicts as one never killed, none lost and none twice, and every recorded plan
rebuilds from the archive it saw (so the resume replayed the same prompts). Real console-script
subprocesses, a real SQLite store file, the scripted OpenAI-wire server."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from agent.search.settings import SearchSettings
from agent.store.sqlite import Store
from tasks.example.guess import make_guess_task
from tests.agent.search.pipeline_checks import assert_one_verdict_per_answer, assert_replayable
from tests.agent.search.test_kill_resume import hypothesis_rows
from tests.agent.search.test_pipeline import by_seed
from tests.support.cli import ASSAY, ROOT, assay, cli_env
from tests.support.llm_server import ScriptedLLMServer

KEY = "example/guess#0"


def args(server: ScriptedLLMServer, db: Path) -> list[str]:
    return [
        "run", "example/guess", "--problems", "0", "--samples", "2", "--calls", "12", "--iterations", "50",
        "--seed", "3", "--target", "1000", "--strategy", "refine", "--loop", "pipelined",
        "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db), "--json",
    ]  # fmt: skip


def verdicts(db: Path) -> tuple[str, list[tuple[Any, ...]]]:
    """(iteration, sample) -> the candidate and its verdict: what the seed-determined model answered and
    how it was judged, independent of the order in which the pipeline happened to finish things."""
    with sqlite3.connect(db) as conn:
        [(run_id,)] = conn.execute("SELECT id FROM runs").fetchall()
    with Store(db) as store:
        rows = [
            (e.hypothesis.iteration, e.sample, e.hypothesis.id, e.verdict.status, e.verdict.score)
            for e in store.hypotheses(run_id, KEY)
        ]
    return run_id, sorted(rows)


def test_kill_9_of_a_pipelined_run_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    env = cli_env(ASSAY_EXAMPLE_VERIFY_DELAY="0.5")
    whole_db, killed_db = tmp_path / "whole.db", tmp_path / "killed.db"
    with ScriptedLLMServer(by_seed) as server:
        done = assay(*args(server, whole_db), env=env)
        assert done.returncode == 0, done.stderr
    _, expected = verdicts(whole_db)
    assert len(expected) == 12

    with ScriptedLLMServer(by_seed) as server:
        proc = subprocess.Popen(
            [ASSAY, *args(server, killed_db)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None and hypothesis_rows(killed_db) < 4:
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)  # only the CLI process we started
            proc.wait()
        run_id, partial = verdicts(killed_db)
        assert 4 <= len(partial) < 12
        resumed = assay("resume", run_id, "--db", str(killed_db), "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["status"] == "finished"
    _, final = verdicts(killed_db)
    assert final == expected
    assert set(partial) <= set(final)
    task = make_guess_task(0, 37)
    with Store(killed_db) as store:
        [config] = [json.loads(r.config_json) for r in store.list_runs()]
        settings = SearchSettings(**{k: v for k, v in config.items() if k in SearchSettings.model_fields})
        assert settings.loop == "pipelined"
        assert len(store.calls(run_id, KEY)) == 12
        assert_one_verdict_per_answer(store, run_id, KEY)
        assert_replayable(store, run_id, task, "refine", settings)
