"""`assay run`, `show`, `resume` and `runs` through the installed console script, on values a candidate
controls (NaN, infinite and huge metrics, a NaN score, megabytes of feedback), on a store whose rows were
corrupted by hand, and on the verdict cache across two real sandbox backends."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.kernel.errors import SandboxError
from sandboxes.config import ProcessSandboxConfig
from tests.support.cli import assay, cli_env
from tests.support.guesser import bisector
from tests.support.llm_server import ScriptedLLMServer

PLUGIN = '''
import math

from agent.kernel import Hypothesis, Job, Task, Verdict, VerdictStatus, fingerprint, task
from verifiers.sandboxed import run_job


class Hostile:
    """Reports what a candidate that patched its own clocks and counters would make it report."""

    name = "hostile"
    version = fingerprint("hostile", 1)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        content = hypothesis.content
        if content == "nan-score":
            return Verdict(status=VerdictStatus.OK, score=math.nan)
        if content == "wild":
            return Verdict(
                status=VerdictStatus.FAIL,
                score=1.0,
                metrics={"cpu": math.nan, "up": math.inf, "down": -math.inf, "max": 1e308, "big": 10**400},
                feedback="x" * (3 << 20),
            )
        return Verdict(status=VerdictStatus.OK, score=2.0, metrics={"cpu": math.nan, "up": math.inf})


class Doubler:
    """Runs the candidate in the run's shared sandbox."""

    name = "doubler"
    version = fingerprint("doubler", 1)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        result = await run_job(Job(command=["python3", "-c", f"print({int(hypothesis.content)} * 2)"]))
        if not result.ok:
            return Verdict(status=VerdictStatus.ERROR, feedback=result.stderr[-300:])
        return Verdict(status=VerdictStatus.FAIL, score=float(result.stdout))


@task("untrusted/hostile", "verdicts with NaN, infinite and huge values")
def hostile() -> Task:
    return Task("untrusted/hostile", "0", "Answer.", parse=str.strip, verifier=Hostile())


@task("untrusted/sandboxed", "candidates run in the shared sandbox")
def sandboxed() -> Task:
    return Task(
        "untrusted/sandboxed", "0", "A number.", parse=str.strip, verifier=Doubler(), uses_sandbox=True
    )
'''


def strict(text: str) -> Any:
    """Parse JSON as any strict reader would: a NaN or Infinity literal fails the test."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "untrusted_tasks.py").write_text(PLUGIN)
    env = cli_env(ASSAY_TASK_MODULES="untrusted_tasks")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    return env


def by_seed(*texts: str):
    return lambda request: texts[int(request.body["seed"]) % 1000 % len(texts)]


def test_hostile_values_run_to_the_end_and_read_back_faithfully(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(by_seed("wild", "nan-score", "ok")) as server:
        run = assay(
            "run", "untrusted/hostile", "--samples", "3", "--iterations", "2", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(db), "--json", env=plugin_env,
        )  # fmt: skip
    no_traceback(run)
    result = strict(run.stdout)
    [problem] = result["problems"]
    assert problem["best_hypothesis"] == "ok" and problem["best_score"] == 2.0
    assert problem["best_metrics"] == {"cpu": "NaN", "up": "Infinity"}

    shown = assay("show", result["run_id"], "--db", str(db), "--json", env=plugin_env)
    no_traceback(shown)
    [p] = strict(shown.stdout)["problems"]
    assert p["best_metrics"] == {"cpu": "NaN", "up": "Infinity"} and p["hypotheses"] == 6
    text = assay("show", result["run_id"], "--db", str(db), env=plugin_env)
    no_traceback(text)
    assert "cpu=nan" in text.stdout and "up=inf" in text.stdout

    with sqlite3.connect(db) as conn:
        verdicts = {c: json.loads(v) for c, v in conn.execute("SELECT content, verdict_json FROM hypotheses")}
        conn.execute("UPDATE searches SET status = 'running'")  # so resume restores the search from the store
        conn.execute("UPDATE runs SET status = 'interrupted'")
    wild, refused = verdicts["wild"], verdicts["nan-score"]
    assert wild["metrics"] == {
        "cpu": "NaN",
        "up": "Infinity",
        "down": "-Infinity",
        "max": 1e308,
        "big": "Infinity",
    }
    assert (
        len(wild["feedback"]) <= 64_000 and "integer beyond float range" in wild["artifacts"]["assay:notes"]
    )
    assert refused["status"] == "error" and refused["score"] is None and "refused" in refused["feedback"]

    resumed = assay("resume", result["run_id"], "--db", str(db), "--json", env=plugin_env)
    no_traceback(resumed)
    again = strict(resumed.stdout)
    assert again["status"] == "finished" and again["problems"][0]["best_metrics"] == {
        "cpu": "NaN",
        "up": "Infinity",
    }


def corrupt(db: Path) -> str:
    """Damage the store by hand, the ways a crash, an editor or an earlier release leave it; returns the id of
    a second run whose config is unreadable."""
    with sqlite3.connect(db) as conn:
        first, second = (k for (k,) in conn.execute("SELECT problem_key FROM searches ORDER BY position"))
        conn.execute("UPDATE runs SET summary_json = '{not json', status = 'weird'")
        conn.execute(
            "UPDATE searches SET best_status = 'weird', stop_reason = 'weird', status = 'weird'"
            " WHERE problem_key = ?",
            (first,),
        )
        null_metric = (
            '{"status":"ok","score":1.0,"metrics":{"m":null},"feedback":"","artifacts":{},"duration_s":null}'
        )
        conn.execute(
            "UPDATE searches SET held_out_json = ?, best_score = NULL WHERE problem_key = ?",
            (null_metric, second),
        )
        conn.execute("UPDATE hypotheses SET verdict_json = '{not json' WHERE iteration = 1 AND sample = 0")
        conn.execute("UPDATE hypotheses SET status = 'weird', score = NULL")
        conn.execute("UPDATE iterations SET best_score = 'abc', cost_usd = 'lots' WHERE iteration = 1")
        conn.execute("UPDATE llm_calls SET messages_json = '{not json' WHERE iteration = 1")
        conn.execute("UPDATE llm_calls SET prompt_tokens = 'many' WHERE iteration = 2")
        conn.execute(
            "UPDATE verdicts SET verdict_json = '{not json'"
            " WHERE rowid IN (SELECT rowid FROM verdicts LIMIT 2)"
        )
        conn.execute(
            "INSERT INTO runs SELECT 'broken-config', created + 1, updated, 'finished', task, '{not json',"
            " NULL, task_module FROM runs"
        )
    return "broken-config"


def notes_of(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("note: ")]


def test_a_corrupted_store_still_lists_shows_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        run = assay(
            "run", "example/guess", "--problems", "0-1", "--samples", "2", "--iterations", "3",
            "--model", "openai/gpt-test", "--base-url", server.openai_base_url, "--db", str(db), "--json",
        )  # fmt: skip
        no_traceback(run)
        run_id = strict(run.stdout)["run_id"]
        broken = corrupt(db)

        listed = assay("runs", "--db", str(db))
        no_traceback(listed)
        assert run_id in listed.stdout and broken in listed.stdout and "weird" in listed.stdout
        assert any("config_json" in n for n in notes_of(listed))

        shown = assay("show", run_id, "--db", str(db), "--json")
        no_traceback(shown)
        result = strict(shown.stdout)
        first, second = result["problems"]
        assert first["stop_reason"] is None and first["best_status"] is None and first["status"] == "weird"
        assert second["held_out"]["metrics"] == {"m": "NaN"} and second["best_score"] is None
        assert result["notes"] and len(notes_of(shown)) == min(len(result["notes"]), 20)
        said = "\n".join(result["notes"])
        for fragment in ("verdict_json is not valid JSON", "best_status", "stop_reason", "best_score"):
            assert fragment in said
        assert all("\n" not in n for n in result["notes"])  # one line each

        broken_shown = assay("show", broken, "--db", str(db))
        no_traceback(broken_shown)
        assert any("stored config is unreadable" in n for n in notes_of(broken_shown))

        resumed = assay("resume", run_id, "--db", str(db), "--json")
        no_traceback(resumed)
        assert strict(resumed.stdout)["status"] == "finished" and notes_of(resumed)
    refused = assay("resume", broken, "--db", str(db))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: run broken-config: its stored config")


def sandbox_config(tmp_path: Path, isolation: str) -> Path:
    path = tmp_path / f"{isolation}.yaml"
    path.write_text(
        f"task: untrusted/sandboxed\nsamples: 1\nsandbox:\n  type: process\n  isolation: {isolation}\n"
    )
    return path


def test_the_verdict_cache_keeps_sandbox_backends_apart(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    try:
        probe = ProcessSandboxConfig(isolation="bwrap").build()
    except SandboxError as e:
        pytest.skip(f"bwrap isolation unavailable: {e}")
    asyncio.run(probe.close())
    db = tmp_path / "runs.db"

    def cached() -> list[tuple[str, float]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT sandbox, created FROM verdicts ORDER BY created").fetchall()

    with ScriptedLLMServer("21") as server:
        args = [
            "--iterations",
            "1",
            "--model",
            "openai/gpt-test",
            "--base-url",
            server.openai_base_url,
            "--db",
            str(db),
        ]
        for isolation in ("plain", "bwrap", "plain"):
            proc = assay(
                "run", "--config", str(sandbox_config(tmp_path, isolation)), *args, "--json", env=plugin_env
            )
            no_traceback(proc)
            assert strict(proc.stdout)["problems"][0]["best_score"] == 42.0
            if isolation == "bwrap" and len(cached()) == 1:
                pytest.fail("the plain sandbox's verdict was reused in the bwrap one")
    rows = cached()
    assert [s.split(":")[:2] for s, _ in rows] == [
        ["process", "plain"],
        ["process", "bwrap"],
    ]  # the third run reused
