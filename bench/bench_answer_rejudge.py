"""Judge again, with today's parser and the search verifier, the stored reward answers that got no score.

Why: a change to how an answer is read (tasks/reward/answer.py, elementwise.py) changes which of the small
model's answers reach training, but a live bench draws new answers, so its rows mix the change with the
model's sampling. This takes the answers a bench already recorded (`llm_calls.response_text` of kept
stores), keeps those whose stored candidate got no score (error, invalid, a pre-check's fail) and that
today's task parser now reads differently, and judges each with the task's own search verifier (tuning
included) on the Docker sandbox: the same answers, before (the stored verdict) and after (this run).

    .venv/bin/python bench/bench_answer_rejudge.py STORE.db [STORE.db ...]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))

from agent.kernel.types import Hypothesis
from sandboxes import shared
from sandboxes.config import DockerSandboxConfig
from tasks.reward.suite import make_task

QUERY = """SELECT h.iteration, h.sample, h.status, h.content, c.response_text FROM hypotheses h
JOIN llm_calls c ON c.run_id = h.run_id AND c.iteration = h.iteration AND c.sample = h.sample
WHERE h.model != 'seed' AND h.score IS NULL AND c.ok = 1"""


async def rejudge(stores: list[str]) -> None:
    shared.configure(DockerSandboxConfig())  # the task's verifiers run on the shared sandbox, as in a run
    try:
        for store in stores:
            db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            name = db.execute("SELECT task FROM runs").fetchone()[0]  # reward/<key>[-scaffold]
            key = name.split("/")[1].removesuffix("-scaffold")
            task = make_task(key, scaffold=name.endswith("-scaffold"))
            for iteration, sample, status, content, text in db.execute(QUERY):
                try:
                    source = task.parse(text or "")
                except Exception as e:  # still unparsed: nothing changed for this answer
                    print(f"{store} it{iteration} s{sample}: {status}, still unparsed ({type(e).__name__})")
                    continue
                if source == content:
                    continue
                started = time.monotonic()
                verdict = await task.verifier.verify(Hypothesis.create(source))
                first = verdict.feedback.strip().splitlines()[0][:140] if verdict.feedback.strip() else ""
                print(
                    f"{store} it{iteration} s{sample}: was {status} -> {verdict.status.value} "
                    f"score={verdict.score} ({time.monotonic() - started:.0f} s) {first}",
                    flush=True,
                )
    finally:
        await shared.close_sandbox()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+")
    asyncio.run(rejudge(parser.parse_args().stores))


if __name__ == "__main__":
    main()
