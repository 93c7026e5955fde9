"""Replay the embedded model's stored reward answers through today's parse and host pre-checks.

Why: a live bench of the small model costs 40-200 s a call here, and its answers change with every prompt
change, so the effect of a parsing or pre-check change is hard to see in a few live rows. This replays the
answers a bench already recorded (`llm_calls.response_text` of kept stores) through `reward_source` and the
host's pre-checks (unfilled `...`, undefined names) exactly as the reward verifier runs them before any job,
and counts, per task, where each answer stops (parse, pre-check) or that it reaches a job. Run it with
PYTHONPATH set to an older checkout to count the same answers under that code (side by side: before/after).
It does not train anything: whether an answer that now reaches a job would train is not measured here.

    .venv/bin/python bench/bench_answer_replay.py STORE.db [STORE.db ...]
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH: an older checkout wins

from agent.kernel.errors import ParseError
from tasks.reward.answer import reward_source
from tasks.reward.problems import PROBLEMS
from verifiers.reward import precheck


def replay(text: str, sim: object) -> str:
    """'job' when today's host checks let the answer reach a sandbox job, else where it stops."""
    try:
        source = reward_source(text)
    except ParseError:
        return "parse"
    names = precheck.scope(sim)  # type: ignore[arg-type]
    if precheck.placeholder(source) or precheck.undefined_names(source, names):
        return "pre-check"
    return "job"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+")
    args = parser.parse_args()
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for store in args.stores:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        task = db.execute("select task from runs").fetchone()[0]
        sim = PROBLEMS[task.split("/")[1].removesuffix("-scaffold")].sim
        for (text,) in db.execute("select response_text from llm_calls where ok = 1"):
            rows[task][replay(text or "", sim)] += 1
    for task, counts in sorted(rows.items()):
        print(task, dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
