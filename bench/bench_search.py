"""Orchestrator overhead per hypothesis: an instant scripted model server, a trivial verifier, real store.

Everything but the model's thinking and the verifier's work is measured: HTTP through the OpenAI SDK, parsing,
verdict-cache lookups, and every SQLite write. Run: `.venv/bin/python bench/bench_search.py`; issue 16's
levers: `--loop pipelined`, `--n-per-request` (the samples of a prompt in one request, the wire format's
`n`), `--profile` (cProfile's top functions by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.kernel.types import Budget  # noqa: E402
from agent.models.base import ModelSettings, make_model  # noqa: E402
from agent.search.pipeline import make_search  # noqa: E402
from agent.search.settings import SearchSettings  # noqa: E402
from agent.search.strategies import make_strategy  # noqa: E402
from agent.store.sqlite import Store  # noqa: E402
from tasks.example.guess import make_guess_task  # noqa: E402
from tests.support.llm_server import ScriptedLLMServer  # noqa: E402

_CHILD = """
import itertools, sys
from tests.support.llm_server import Reply, ScriptedLLMServer
counter = itertools.count()
# distinct answers (one per choice of a request with `n`), so every hypothesis is verified and written
def answer(request):
    return Reply(choices=tuple(f"ANSWER: {next(counter)}" for _ in range(int(request.body.get("n") or 1))))
with ScriptedLLMServer(answer) as server:
    print(server.openai_base_url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def instant_server(same_process: bool) -> Iterator[str]:
    """An instant scripted server; in a child process by default, so it does not share our GIL."""
    if same_process:
        counter = itertools.count()
        with ScriptedLLMServer(lambda _r: f"ANSWER: {next(counter)}") as server:
            yield server.openai_base_url
        return
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        yield child.stdout.readline().strip()
    finally:
        child.stdin.close()
        child.wait(timeout=10)


async def measure(
    samples: int,
    iterations: int,
    strategy: str,
    same_process: bool,
    loop: str = "generational",
    n: bool = False,
) -> tuple[int, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Store(Path(tmp) / "bench.db") as store,
        instant_server(same_process) as base_url,
    ):
        task = make_guess_task(0, -1)
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        model = make_model(
            "openai/bench", ModelSettings(base_url=base_url, max_concurrency=samples, n_per_request=n)
        )
        search = make_search(
            loop,
            task=task,
            model=model,
            strategy=make_strategy(strategy),
            budget=Budget(iterations=iterations),
            store=store,
            run_id=run_id,
            settings=SearchSettings(samples=samples, verify_concurrency=samples, loop=loop),
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
    parser.add_argument("--same-process", action="store_true", help="run the server in this process")
    parser.add_argument("--loop", choices=("generational", "pipelined"), default="generational")
    parser.add_argument("--n-per-request", action="store_true", help="one request with `n` per prompt")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25 by own time")
    args = parser.parse_args()
    asyncio.run(measure(4, 1, "refine", True))  # warm-up: imports, the price table
    for strategy in ("best-of-n", "refine"):
        run = measure(
            args.samples, args.iterations, strategy, args.same_process, args.loop, args.n_per_request
        )
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            n, elapsed = profiler.runcall(asyncio.run, run)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        else:
            n, elapsed = asyncio.run(run)
        print(
            f"{strategy:10} {args.loop} n={args.n_per_request} {n} hypotheses in {elapsed:.2f} s: "
            f"{n / elapsed:.0f} hypotheses/s"
        )


if __name__ == "__main__":
    main()
