"""`assay bench` through the installed console script against the scripted OpenAI-wire server: the grid's
runs are in the store, grouped by the bench, the printed numbers are the runs' own, a failing cell is
reported without stopping the others, and a rerun continues only what did not finish."""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
from pathlib import Path
from typing import Any

from tests.agent.view.stores import bench_guess
from tests.support.cli import assay
from tests.support.guesser import bisector
from tests.support.llm_server import RecordedRequest, Reply, ReplyLike, ScriptedLLMServer


def _rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as con:
        return con.execute(sql, params).fetchall()


def test_grid_of_two_strategies_and_two_seeds(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        proc = bench_guess(db, server.openai_base_url, "--json", "--threshold", "-3")
        assert proc.returncode == 0, proc.stderr
        served = len(server.requests)
    summary = json.loads(proc.stdout)
    assert summary["complete"] is True and len(summary["cells"]) == 4
    bench_id = summary["bench_id"]

    # the store holds the four runs of the bench, each run with its cell's strategy and seed
    cells = _rows(db, "SELECT strategy, seed, run_id, status FROM bench_cells WHERE bench_id = ?", bench_id)
    assert sorted((s, seed) for s, seed, _, _ in cells) == [("best-of-n", 0), ("best-of-n", 1), ("refine", 0),
                                                             ("refine", 1)]  # fmt: skip
    assert {status for *_, status in cells} == {"finished"}
    assert len({run for _, _, run, _ in cells}) == 4 == len(_rows(db, "SELECT id FROM runs"))
    for strategy, seed, run_id, _ in cells:
        [(config_json, status)] = _rows(db, "SELECT config_json, status FROM runs WHERE id = ?", run_id)
        config = json.loads(config_json)
        assert (config["strategy"], config["seed"], status) == (strategy, seed, "finished")
        assert config["budget"]["calls"] == 4  # one budget for every cell

    # the table's numbers are the runs' own, recomputed here from the raw tables
    assert served == 16  # 4 runs x 4 calls
    for row in summary["rows"]:
        runs = [run for s, _, run, _ in cells if s == row["strategy"]]
        held = [json.loads(h)["score"] for r in runs for (h,) in
                _rows(db, "SELECT held_out_json FROM searches WHERE run_id = ?", r)]  # fmt: skip
        calls = [_rows(db, "SELECT COUNT(*) FROM llm_calls WHERE run_id = ?", r)[0][0] for r in runs]
        assert row["score"]["mean"] == statistics.fmean(held)
        assert row["score"]["std"] == statistics.stdev(held)
        assert row["calls"]["mean"] == statistics.fmean(calls) == 4
        assert row["score_source"] == "held-out" and row["finished"] == 2
        assert row["cost_known"] is False  # openai/gpt-test has no price: its $0 is unknown, not free
        # calls and seconds to the threshold: the first recorded iteration whose best reached -3
        reached = [_rows(db, "SELECT calls, elapsed_s FROM iterations WHERE run_id = ? AND best_score >= -3"
                         " ORDER BY iteration LIMIT 1", r) for r in runs]  # fmt: skip
        hits = [hit[0] for hit in reached if hit]
        assert row["threshold"] == -3 and row["reached"] == len(hits) and row["searches"] == 2
        assert row["calls_to_threshold"]["mean"] == (statistics.fmean(c for c, _ in hits) if hits else None)
        assert row["seconds_to_threshold"]["mean"] == (statistics.fmean(t for _, t in hits) if hits else None)

    # the text table shows the same bench, and a rerun skips every finished cell
    with ScriptedLLMServer(bisector) as server:
        again = bench_guess(db, server.openai_base_url, "--bench-id", bench_id)
        assert again.returncode == 0, again.stderr
        assert server.requests == []  # nothing was asked again
    assert again.stderr.count("finished before") == 4
    lines = [line for line in again.stdout.splitlines() if line.startswith("example/guess")]
    assert [line.split()[1] for line in lines] == ["best-of-n", "refine"]
    assert all(" 2/2 " in line and "[held-out]" in line and "unknown" in line for line in lines)
    assert len(_rows(db, "SELECT id FROM runs")) == 4


def test_failing_cell_is_reported_then_continued(tmp_path: Path) -> None:
    """The model refuses every request after the first cell's four: the second cell stops (exit 3, reported
    with its run), and a rerun of the bench continues that run only."""
    db = tmp_path / "runs.db"
    lock = threading.Lock()
    state = {"served": 0, "fail_after": 4}

    def respond(request: RecordedRequest) -> ReplyLike:
        with lock:
            state["served"] += 1
            if state["served"] > state["fail_after"]:
                return Reply.error(400, "this model is gone")
        return bisector(request)

    with ScriptedLLMServer(respond) as server:
        first = assay(
            "bench", "example/guess", "--strategies", "best-of-n,refine", "--seeds", "0", "--samples", "2",
            "--calls", "4", "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
            "--db", str(db), "--json",
        )  # fmt: skip
        assert first.returncode == 3, first.stderr
        summary = json.loads(first.stdout)
        assert summary["complete"] is False
        done, failed = summary["cells"]
        assert done["status"] == "finished" and failed["status"] == "model_error"
        assert failed["run_id"] is not None and "resume" in failed["error"]
        assert "1 cell(s) did not finish" in first.stderr

        state["fail_after"] = 10**6  # the model is back
        second = assay(
            "bench", "example/guess", "--strategies", "best-of-n,refine", "--seeds", "0", "--samples", "2",
            "--calls", "4", "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
            "--db", str(db), "--json", "--bench-id", summary["bench_id"],
        )  # fmt: skip
    assert second.returncode == 0, second.stderr
    resumed = json.loads(second.stdout)
    assert resumed["complete"] is True
    assert [c["run_id"] for c in resumed["cells"]] == [done["run_id"], failed["run_id"]]  # no new run
    assert len(_rows(db, "SELECT id FROM runs")) == 2
    assert f"continuing run {failed['run_id']}" in second.stderr

    # the same bench with another budget would mix two benches: refused before anything runs
    other = assay(
        "bench", "example/guess", "--strategies", "best-of-n,refine", "--seeds", "0", "--samples", "2",
        "--calls", "6", "--model", "openai/gpt-test", "--base-url", "http://127.0.0.1:9/v1",
        "--db", str(db), "--bench-id", summary["bench_id"],
    )  # fmt: skip
    assert other.returncode == 2 and "was run with budget" in other.stderr, other.stderr
    assert len(_rows(db, "SELECT id FROM runs")) == 2


def test_bad_input_runs_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    proc = assay("bench", "example/guess", "--strategies", "best-of-n,sideways", "--model", "openai/x",
                 "--db", str(db))  # fmt: skip
    assert proc.returncode == 2 and "sideways" in proc.stderr
    assert not db.exists() or _rows(db, "SELECT COUNT(*) FROM runs") == [(0,)]
    shown = assay("bench", "--bench-id", "nope", "--db", str(db))
    assert shown.returncode == 2


def test_search_options_reach_every_cell_and_bad_ones_run_nothing(tmp_path: Path) -> None:
    """`assay run`'s search and request options are `assay bench`'s too, recorded in each cell's config."""
    db = tmp_path / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        proc = bench_guess(db, server.openai_base_url, "--no-repair", "--retry-window", "7.5",
                           "--n-per-request", "--model-split", "thompson")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    configs = [json.loads(c) for (c,) in _rows(db, "SELECT config_json FROM runs")]
    assert len(configs) == 4
    for config in configs:
        flat = json.dumps(config)
        assert '"repair": false' in flat and '"retry_window_s": 7.5' in flat, flat
        assert '"n_per_request": true' in flat and '"model_split": "thompson"' in flat, flat
    bad = tmp_path / "bad.db"
    proc = assay("bench", "example/guess", "--strategies", "refine", "--seeds", "0", "--halving-top", "-1",
                 "--model", "openai/x", "--db", str(bad))  # fmt: skip
    assert proc.returncode == 2 and "halving_top" in proc.stderr and "Traceback" not in proc.stderr
    assert not bad.exists() or _rows(bad, "SELECT COUNT(*) FROM runs") == [(0,)]
