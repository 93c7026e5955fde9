"""`assay run --executor ray` through the console script, on the real local cluster, with the scripted
OpenAI-wire model server: kill -9 of the orchestrator while Ray jobs are in flight, then `assay resume`,
ends with the archive of an uninterrupted run and asks the model nothing it had answered; a verification
whose worker dies on every attempt is recorded as an unscored `error`."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from agent.store.sqlite import Store
from tests.support.cli import ASSAY, ROOT, assay, cli_env
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer
from tests.support.ray_cluster import RayCluster

KEY = "raytest/guess#0"
ENV = {"ASSAY_TASK_MODULES": "tests.support.ray_tasks"}


def stepper(request: RecordedRequest) -> str:
    """A deterministic 'model': a guess drawn from the request's seed, so a replayed request gets the same
    answer in any order (and rarely the secret, so the search runs all its iterations)."""
    seed = int(request.body.get("seed") or 0)
    return f"ANSWER: {(seed * 7919) % 101}"


class Gate:
    """`stepper`, but every request from the `after`-th on waits until the gate is opened: the killed run
    cannot finish (or outrun the poll for its first rows) however the machine's load times it."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.opened = threading.Event()

    def __call__(self, request: RecordedRequest) -> str:
        if request.index >= self.after:
            self.opened.wait(timeout=600)
        return stepper(request)


def run_args(server: ScriptedLLMServer, cluster: RayCluster, db: Path) -> list[str]:
    return [
        "run", "raytest/guess", "--strategy", "refine", "--samples", "2", "--iterations", "5",
        "--seed", "3", "--target", "1000", "--model", "openai/gpt-test", "--base-url",
        server.openai_base_url, "--db", str(db), "--json", "--executor", "ray", "--ray-address",
        cluster.address,
    ]  # fmt: skip


def run_id(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        [(found,)] = conn.execute("SELECT id FROM runs").fetchall()
    return str(found)


def archive(db: Path) -> list[tuple[Any, ...]]:
    with Store(db) as store:
        return [
            (e.hypothesis.iteration, e.sample, e.hypothesis.id, e.hypothesis.parent_ids, e.verdict.status,
             e.verdict.score, e.verdict.feedback)
            for e in store.hypotheses(run_id(db), KEY)
        ]  # fmt: skip


def recorded_seeds(db: Path) -> set[int]:
    with Store(db) as store:
        return {int(c.params["seed"]) for c in store.calls(run_id(db), KEY) if c.ok}


def hypothesis_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM hypotheses").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_the_orchestrator_killed_with_ray_jobs_in_flight_resumes_losing_and_repeating_nothing(
    cluster: RayCluster, tmp_path: Path
) -> None:
    env = cli_env(**ENV)
    whole_db, killed_db = tmp_path / "whole.db", tmp_path / "killed.db"
    with ScriptedLLMServer(stepper) as server:
        done = assay(*run_args(server, cluster, whole_db), env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "finished"  # stdout is the JSON result alone
    expected = archive(whole_db)
    assert len(expected) == 5 * 2

    gate = Gate(after=4)  # its 10 hypotheses need 5 (n=2) to 10 requests: it stops before the last iteration
    with ScriptedLLMServer(gate) as server:
        proc = subprocess.Popen(
            [ASSAY, *run_args(server, cluster, killed_db)], env=env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            # each verification holds a Ray worker for 0.4 s: with 3 recorded, the next ones are in flight
            while time.monotonic() < deadline and proc.poll() is None and hypothesis_rows(killed_db) < 3:
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)  # only the CLI process we started
            proc.wait()
            gate.opened.set()
        assert 3 <= hypothesis_rows(killed_db) < len(expected)
        answered = recorded_seeds(killed_db)
        before = len(server.requests)
        resumed = assay("resume", run_id(killed_db), "--db", str(killed_db), "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["status"] == "finished"
        asked_again = {int(r.body["seed"]) for r in server.requests[before:]}
    assert archive(killed_db) == expected
    assert answered and not answered & asked_again  # no recorded model call was made again
    assert recorded_seeds(killed_db) == recorded_seeds(whole_db)


def test_a_verification_whose_worker_dies_every_time_is_recorded_as_an_unscored_error(
    cluster: RayCluster, tmp_path: Path
) -> None:
    config = tmp_path / "ray.toml"
    config.write_text('verify_retries = 0\n[executor]\ntype = "ray"\nattempts = 2\nworkers = 2\nslots = 1\n')
    db = tmp_path / "faults.db"
    with ScriptedLLMServer("die") as server:
        done = assay(
            "run", "raytest/faults", "--samples", "1", "--iterations", "1", "--model", "openai/gpt-test",
            "--base-url", server.openai_base_url, "--db", str(db), "--json", "--config", str(config),
            "--ray-address", cluster.address, env=cli_env(**ENV),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "finished"  # Ray's notes of a dead worker are not in it
    with Store(db) as store:
        row = store.get_run(run_id(db))
        assert row is not None
        stored = json.loads(row.config_json)["executor"]
        [entry] = store.hypotheses(run_id(db), "raytest/faults#0")
    assert stored["type"] == "ray" and stored["address"] == cluster.address and stored["attempts"] == 2
    assert entry.verdict.status.value == "error" and entry.verdict.score is None
    assert "lost 2 times" in json.dumps(entry.verdict.artifacts)
