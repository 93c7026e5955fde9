"""Stores made by the real commands: a finished run and one still running (`assay run`), and a bench of
four runs (`assay bench`)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from tests.support.cli import assay
from tests.support.guesser import bisector
from tests.support.llm_server import ScriptedLLMServer


def run_guess(db: Path, base_url: str, *extra: str) -> str:
    """One `assay run example/guess` against the scripted server; returns its run id."""
    proc = assay(
        "run", "example/guess", "--samples", "3", "--iterations", "6", "--target", "0",
        "--model", "openai/gpt-test", "--base-url", base_url, "--db", str(db), "--json", *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_id: str = json.loads(proc.stdout)["run_id"]
    return run_id


def finished_and_running(db: Path) -> tuple[str, str]:
    """Two real runs; the second is then marked as in progress, as a search being watched would be."""
    with ScriptedLLMServer(bisector) as server:
        finished = run_guess(db, server.openai_base_url, "--problems", "0-1")
        running = run_guess(db, server.openai_base_url, "--problems", "2")
    with sqlite3.connect(db) as con:
        con.execute("UPDATE runs SET status = 'running' WHERE id = ?", (running,))
        con.execute(
            "UPDATE searches SET status = 'running', held_out_json = NULL, stop_reason = NULL,"
            " stop_detail = NULL"
            " WHERE run_id = ?",
            (running,),
        )
    return finished, running


def bench_guess(db: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`assay bench example/guess` over two strategies and two seeds, at 4 calls per search."""
    return assay(
        "bench", "example/guess", "--strategies", "best-of-n,refine", "--seeds", "0,1", "--samples", "2",
        "--calls", "4", "--model", "openai/gpt-test", "--base-url", base_url, "--db", str(db), *extra,
    )  # fmt: skip
