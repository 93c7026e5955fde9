"""Issue 16: the pipelined loop against the generational one, framework throughput, and a soak with faults.

    .venv/bin/python bench/bench_pipeline.py utilisation   # verifier-slot use, verifications of 1-10 s
    .venv/bin/python bench/bench_pipeline.py throughput    # hypotheses/s, instant model, trivial verifier
    .venv/bin/python bench/bench_pipeline.py soak          # 10,000 hypotheses with model and sandbox faults
    .venv/bin/python bench/bench_pipeline.py outage        # a real minute of 503s, waited out

Utilisation: a verifier that sleeps a time drawn from 1-10 s per candidate (from its id, so both loops draw
the same times), `capacity` slots; utilisation is the slots' busy time over capacity x wall time. Soak: the
scripted server fails a share of requests (500s, retried by the adapter; a plan whose retries run out stops
the search resumably and the bench resumes it), and the verifier raises `SandboxError` for a share of jobs
(the sandbox's job killed: retried, and recorded as `error` when every retry fails); afterwards the store is
checked: every answered call has exactly one verdict, the archive positions are 0..N-1, none twice.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint  # noqa: E402
from agent.kernel.errors import SandboxError  # noqa: E402
from agent.kernel.types import Budget, StopReason  # noqa: E402
from agent.kernel.verifier import Verifier  # noqa: E402
from agent.models.base import ModelSettings, make_model  # noqa: E402
from agent.search.executors import LocalExecutor  # noqa: E402
from agent.search.pipeline import SEQ, make_search  # noqa: E402
from agent.search.settings import SearchSettings  # noqa: E402
from agent.search.strategies import make_strategy  # noqa: E402
from agent.store.sqlite import Store  # noqa: E402
from bench.bench_search import measure  # noqa: E402
from tests.support.llm_server import Reply, ScriptedLLMServer  # noqa: E402


def _unit(hypothesis_id: str, salt: str) -> float:
    return int.from_bytes(hashlib.sha256(f"{salt}|{hypothesis_id}".encode()).digest()[:8], "big") / 2**64


class SleepVerifier:
    """Sleeps 1-10 s (times `scale`) per candidate, then scores it; optionally fails like a killed job."""

    name = "sleep"

    def __init__(self, scale: float, kill_rate: float = 0.0) -> None:
        self.scale = scale
        self.kill_rate = kill_rate
        self.version = fingerprint("sleep", scale, kill_rate)
        self.attempts: dict[str, int] = {}

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        attempt = self.attempts[hypothesis.id] = self.attempts.get(hypothesis.id, 0) + 1
        if self.kill_rate and _unit(hypothesis.id, f"kill{attempt}") < self.kill_rate:
            raise SandboxError("the sandbox job was killed")
        if self.scale:
            await asyncio.sleep((1.0 + 9.0 * _unit(hypothesis.id, "time")) * self.scale)
        return Verdict(status=VerdictStatus.FAIL, score=-_unit(hypothesis.id, "score"))


class BusyExecutor(LocalExecutor):
    """The local executor, timing when each slot is busy."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.spans: list[tuple[float, float]] = []

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        async with self._slots:
            started = time.monotonic()
            try:
                return await verifier.verify(hypothesis)
            finally:
                self.spans.append((started, time.monotonic()))

    def utilisation(self) -> float:
        busy = sum(end - start for start, end in self.spans)
        wall = max(e for _, e in self.spans) - min(s for s, _ in self.spans)
        return busy / (self.capacity * wall)


def task_with(verifier: Verifier) -> Task:
    return Task("bench/sleep", "0", "Answer with a number.", parse=str.strip, verifier=verifier)


def counting_server(error_rate: float = 0.0, seed: int = 0) -> ScriptedLLMServer:
    counter = itertools.count()
    rng = random.Random(seed)

    def answer(request):
        if error_rate and rng.random() < error_rate:
            return Reply.server_error(500, "injected fault")
        return Reply(choices=tuple(str(next(counter)) for _ in range(int(request.body.get("n") or 1))))

    return ScriptedLLMServer(answer)


async def search_once(
    store: Store,
    run_id: str,
    task: Task,
    url: str,
    settings: SearchSettings,
    budget: Budget,
    executor: object,
):
    model = make_model(
        "openai/bench",
        ModelSettings(base_url=url, max_concurrency=32, n_per_request=True, max_retries=4,
                      backoff_base_s=0.01, backoff_max_s=0.1),
    )  # fmt: skip
    search = make_search(
        settings.loop, task=task, model=model, strategy=make_strategy("refine"), budget=budget, store=store,
        run_id=run_id, settings=settings, executor=executor,
    )  # fmt: skip
    try:
        return await search.run()
    finally:
        await model.close()


async def utilisation(loop: str, calls: int, capacity: int, scale: float) -> tuple[float, float]:
    executor = BusyExecutor(capacity)
    task = task_with(SleepVerifier(scale))
    with (
        tempfile.TemporaryDirectory() as tmp,
        Store(Path(tmp) / "u.db") as store,
        counting_server() as server,
    ):
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        settings = SearchSettings(samples=capacity, verify_concurrency=capacity, loop=loop)
        started = time.monotonic()
        await search_once(store, run_id, task, server.openai_base_url, settings, Budget(calls=calls,
                          iterations=None), executor)  # fmt: skip
        return executor.utilisation(), time.monotonic() - started


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def soak(total: int, error_rate: float, kill_rate: float) -> None:
    task = task_with(SleepVerifier(0.0, kill_rate))
    settings = SearchSettings(samples=32, verify_concurrency=8, loop="pipelined", pipeline_requests=4)
    budget = Budget(calls=total, iterations=None)
    rss: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "soak.db") as store:
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        started, resumes = time.monotonic(), 0
        with counting_server(error_rate, seed=1) as server:
            done = asyncio.Event()

            async def sample_rss() -> None:
                while not done.is_set():
                    n = store._row("SELECT COUNT(*) FROM hypotheses")[0]
                    rss.append((n, rss_mb()))
                    await asyncio.sleep(1.0)

            sampler = asyncio.create_task(sample_rss())
            while True:
                outcome = await search_once(store, run_id, task, server.openai_base_url, settings, budget,
                                            LocalExecutor(8))  # fmt: skip
                if outcome.stop_reason not in (StopReason.MODEL_ERROR, StopReason.INFRASTRUCTURE):
                    break
                resumes += 1  # an outage outlasted the retries: resume, as `assay resume` would
            done.set()
            await sampler
        elapsed = time.monotonic() - started
        calls = store.calls(run_id, task.key)
        entries = store.hypotheses(run_id, task.key)
        answered = {(c.iteration, c.sample) for c in calls if c.ok}
        recorded = [(e.hypothesis.iteration, e.sample) for e in entries]
        seqs = sorted(e.hypothesis.meta[SEQ] for e in entries)
        infra = sum(1 for e in entries if e.verdict.status is VerdictStatus.ERROR)
        print(f"soak: {len(entries)} hypotheses in {elapsed:.1f} s ({len(entries) / elapsed:.0f}/s), "
              f"stop {outcome.stop_reason.value}, resumes {resumes}, failed requests seen by the server "
              f"{sum(1 for r in server.requests) - len(calls) // 32}")  # fmt: skip
        print(f"  lost (answered, no verdict): {len(answered - set(recorded))}; duplicated: "
              f"{len(recorded) - len(set(recorded))}; seq 0..N-1: {seqs == list(range(len(seqs)))}; "
              f"unjudged after all retries (error): {infra}")  # fmt: skip
        print(
            "  RSS MB by hypotheses recorded:",
            ", ".join(f"{n}:{mb:.0f}" for n, mb in rss[:: max(1, len(rss) // 10)]),
        )


async def outage(seconds: float) -> None:
    """A real outage: every request fails with 503 for `seconds`, then the server answers; one search with a
    `retry_window_s` of twice that rides it out."""
    began = time.monotonic()

    def answer(request):
        if time.monotonic() - began < seconds:
            return Reply.server_error(503, "outage")
        return Reply(choices=tuple(str(i) for i in range(int(request.body.get("n") or 1))))

    task = task_with(SleepVerifier(0.0))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "o.db") as store:  # noqa: SIM117
        with ScriptedLLMServer(answer) as server:
            run_id = store.create_run(task.name, "{}")
            store.start_search(run_id, task.key, 0)
            model = make_model(
                "openai/bench",
                ModelSettings(base_url=server.openai_base_url, max_retries=4, backoff_base_s=0.5,
                              backoff_max_s=8.0, retry_window_s=2 * seconds),
            )  # fmt: skip
            search = make_search(
                "pipelined", task=task, model=model, strategy=make_strategy("refine"),
                budget=Budget(calls=8, iterations=None), store=store, run_id=run_id,
                settings=SearchSettings(samples=4, loop="pipelined"),
            )  # fmt: skip
            outcome = await search.run()
            await model.close()
            print(f"outage of {seconds:g} s: stop {outcome.stop_reason.value} after "
                  f"{time.monotonic() - began:.1f} s, {outcome.spend.calls} calls answered, "
                  f"{len(server.requests)} requests seen")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("utilisation", "throughput", "soak", "outage"))
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0, help="verification times are 1-10 s x scale")
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if args.what == "utilisation":
        for loop in ("generational", "pipelined"):
            used, wall = asyncio.run(utilisation(loop, args.calls, args.capacity, args.scale))
            print(f"{loop:12} utilisation {used:.2f} over {wall:.1f} s ({args.calls} verifications, "
                  f"capacity {args.capacity})")  # fmt: skip
    elif args.what == "throughput":
        asyncio.run(measure(4, 1, "refine", True))  # warm-up: imports, the price table
        for loop, n in (("generational", False), ("pipelined", False), ("pipelined", True)):
            for strategy in ("best-of-n", "refine"):
                count, elapsed = asyncio.run(measure(32, 20, strategy, False, loop, n))
                print(f"{strategy:10} {loop:12} n-per-request={n!s:5} {count / elapsed:.0f} hypotheses/s")
    elif args.what == "soak":
        asyncio.run(measure(4, 1, "refine", True))  # warm-up: imports, the price table (not soaked)
        asyncio.run(soak(args.total, error_rate=0.05, kill_rate=0.03))
    else:
        asyncio.run(outage(args.seconds))


if __name__ == "__main__":
    main()
