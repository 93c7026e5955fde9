"""Where one assay run's wall time went, read from its records (read-only): model, verification, start-up
and the framework itself.

The run store keeps, for every call, when it was recorded and its latency, and for every verdict, when it was
cached and how long the verification took; so each is an interval on one clock. Calls run concurrently and
so do verifications, so each share is the length of the *union* of its intervals, not their sum:
- model: the union of the calls' intervals [recorded - latency, recorded];
- verification: the union of the verdicts' intervals (search, seed program and held-out checks alike);
- start-up: from the run's creation to its first call or verification, less any verification in it
  (loading the task, the needs check, building and probing the sandbox);
- framework: what is left of the run's wall time (prompts, parsing, the store, progress, shutdown);
- before the run: given the `assay` process's own wall time, what came before the run was recorded
  (interpreter and imports, the config, the sandbox and model checks) and after it (closing).
Model and verification never overlap in the generational loop; `overlap` says so when they do.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

Interval = tuple[float, float]


def _union(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: list[Interval], lo: float = float("-inf"), hi: float = float("inf")) -> float:
    return sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in intervals)


def _intersection(a: list[Interval], b: list[Interval]) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def time_split(db: Path, run_id: str | None = None, process_wall_s: float | None = None) -> dict[str, float]:
    """The split of `run_id`'s wall time (the latest run when None), in seconds; with the wall time of the
    process that ran it, also what that process spent outside the recorded run."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        if run_id is None:
            run_id = con.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()[0]
        created, updated = con.execute("SELECT created, updated FROM runs WHERE id = ?", (run_id,)).fetchone()
        calls = con.execute(
            "SELECT created - COALESCE(latency_s, 0), created FROM llm_calls WHERE run_id = ?", (run_id,)
        ).fetchall()
        keys = [k for (k,) in con.execute("SELECT problem_key FROM searches WHERE run_id = ?", (run_id,))]
        verdicts = [
            (created_at, json.loads(text).get("duration_s") or 0.0)
            for key in keys
            for created_at, text in con.execute(
                "SELECT created, verdict_json FROM verdicts"
                " WHERE problem_key = ? AND created BETWEEN ? AND ?",
                (key, created, updated),
            )
        ]
    model = _union([(s, e) for s, e in calls])
    verify = _union([(end - duration, end) for end, duration in verdicts])
    first = min([s for s, _ in model] + [s for s, _ in verify] + [updated])
    wall = updated - created
    startup = max(0.0, first - created - _length(verify, created, first))
    overlap = _intersection(model, verify)
    model_s, verify_s = _length(model), _length(verify)
    framework = max(0.0, wall - startup - model_s - verify_s + overlap)
    split = {"wall_s": wall, "model_s": model_s, "verification_s": verify_s, "startup_s": startup,
             "framework_s": framework, "overlap_s": overlap}  # fmt: skip
    if process_wall_s is not None:
        split["process_wall_s"] = process_wall_s
        split["outside_run_s"] = max(0.0, process_wall_s - wall)
    return split


def format_split(split: dict[str, float]) -> str:
    """`12.0 s: model 0.2 s (2%) / verification 0.9 s (8%) / ...`, shares of the process wall when known."""
    wall = split.get("process_wall_s", split["wall_s"]) or 1.0
    parts = [("model", "model_s"), ("verification", "verification_s"), ("start-up", "startup_s"),
             ("framework", "framework_s"), ("outside the run", "outside_run_s")]  # fmt: skip
    return f"{wall:.1f} s: " + " / ".join(
        f"{name} {split[key]:.1f} s ({100 * split[key] / wall:.0f}%)" for name, key in parts if key in split
    )
