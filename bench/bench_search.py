"""Orchestrator overhead per hypothesis: an instant scripted model server, a trivial verifier, real store.

Everything but the model's thinking and the verifier's work is measured: HTTP through the OpenAI SDK, parsing,
verdict-cache lookups, and every SQLite write. Run: `.venv/bin/python bench/bench_search.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.models.base import ModelSettings, make_model  # noqa: E402
from agent.search import Search, SearchSettings  # noqa: E402
from agent.store import Store  # noqa: E402
from agent.strategies import make_strategy  # noqa: E402
from agent.types import Budget  # noqa: E402
from tests.support.llm_server import ScriptedLLMServer  # noqa: E402
from tests.support.toy_tasks import make_guess_task  # noqa: E402


async def measure(samples: int, iterations: int, strategy: str) -> tuple[int, float]:
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
        # distinct answers, so every hypothesis is verified and written (no cache hits)
        with ScriptedLLMServer(lambda _r: f"ANSWER: {next(counter)}") as server:
            task = make_guess_task(0, -1)
            run_id = store.create_run(task.name, "{}")
            store.start_search(run_id, task.key, 0)
            model = make_model(
                "openai/bench", ModelSettings(base_url=server.openai_base_url, max_concurrency=samples)
            )
            search = Search(
                task=task,
                model=model,
                strategy=make_strategy(strategy),
                budget=Budget(max_iterations=iterations),
                store=store,
                run_id=run_id,
                settings=SearchSettings(samples=samples, verify_concurrency=samples),
            )
            started = time.perf_counter()
            outcome = await search.run()
            elapsed = time.perf_counter() - started
            await model.close()
            hypotheses = len(store.hypotheses(run_id, task.key))
            assert hypotheses == samples * iterations == outcome.spend.calls
    return hypotheses, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(measure(4, 1, "refine"))  # warm-up: imports, the price table, the first connection
    for strategy in ("best-of-n", "refine"):
        n, elapsed = asyncio.run(measure(args.samples, args.iterations, strategy))
        print(f"{strategy:10} {n} hypotheses in {elapsed:.2f} s: {n / elapsed:.0f} hypotheses/s")


if __name__ == "__main__":
    main()
