"""Issue 16: the pipelined loop against the generational one, framework throughput, and a soak with faults.

    .venv/bin/python bench/bench_pipeline.py utilisation   # verifier-slot use, verifications of 1-10 s
    .venv/bin/python bench/bench_pipeline.py throughput    # hypotheses/s, instant model, trivial verifier
    .venv/bin/python bench/bench_pipeline.py soak          # 10,000 hypotheses with model and verifier faults
    .venv/bin/python bench/bench_pipeline.py soak --sandbox --total 2000 [--executor local|ray|both]
    .venv/bin/python bench/bench_pipeline.py outage        # a real minute of 503s mid-run, waited out

Utilisation: a verifier that sleeps a time drawn from 1-10 s per candidate (from its id, so both loops draw
the same times), `capacity` slots; utilisation is the slots' busy time over capacity x wall time. Soak: the
scripted server fails a share of requests (500s, and a burst of 429s with Retry-After; retried by the adapter;
a plan whose retries run out stops the search resumably and the bench resumes it). Without `--sandbox` the
verifier raises `SandboxError` for a share of jobs (a stand-in for a killed job: retried, and recorded as
`error` when every retry fails). With `--sandbox` every candidate runs a real process-sandbox job
(tests/support/soak_tasks.py) and tests/support/soak_faults.py SIGKILLs random jobs and sandbox workers from
outside (and, on Ray, one worker actor); every killed candidate must end `error` or with the host's own
score. Afterwards
the store is checked: every answered call has exactly one verdict, the archive positions are 0..N-1, none
twice. `--executor both` runs the sandbox soak locally, then on a local 2-node Ray cluster, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import os
import random
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint  # noqa: E402
from agent.kernel.errors import SandboxError  # noqa: E402
from agent.kernel.plugins import load_suite  # noqa: E402
from agent.kernel.types import Budget, StopReason  # noqa: E402
from agent.kernel.verifier import Verifier  # noqa: E402
from agent.models.base import ModelSettings, make_model  # noqa: E402
from agent.run.remote import RunVerifiers  # noqa: E402
from agent.run.sandbox import sandbox_identity  # noqa: E402
from agent.search.executors import ExecutorContext, LocalExecutor, RayExecutorConfig  # noqa: E402
from agent.search.pipeline import SEQ, make_search  # noqa: E402
from agent.search.settings import SearchSettings  # noqa: E402
from agent.search.strategies import make_strategy  # noqa: E402
from agent.store.sqlite import Store  # noqa: E402
from bench.bench_search import measure  # noqa: E402
from sandboxes import close_sandbox, configure  # noqa: E402
from sandboxes.config import ProcessSandboxConfig  # noqa: E402
from sandboxes.shared import configured  # noqa: E402
from tests.support.llm_server import Reply, ScriptedLLMServer  # noqa: E402
from tests.support.ray_cluster import ray_cluster  # noqa: E402
from tests.support.soak_faults import SandboxKiller, WorkerKiller, descendants_of  # noqa: E402
from tests.support.soak_tasks import MODULUS, expected  # noqa: E402


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
    identity: str | None = None,
    retries: dict | None = None,
):
    retries = retries or {"max_retries": 4, "backoff_base_s": 0.01, "backoff_max_s": 0.1}
    model = make_model(
        "openai/bench", ModelSettings(base_url=url, max_concurrency=32, n_per_request=True, **retries)
    )
    search = make_search(
        settings.loop, task=task, model=model, strategy=make_strategy("refine"), budget=budget, store=store,
        run_id=run_id, settings=settings, executor=executor, sandbox_identity=identity,
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


def rss_at(series: list[tuple[int, float]], counts: tuple[int, ...]) -> list[tuple[int, float]]:
    """For each count, the first (hypotheses, RSS) sample at or past it, else the last one."""
    return [next((p for p in series if p[0] >= c), series[-1]) for c in counts] if series else []


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class CountingExecutor:
    """Delegates to `inner`, counting verifications and the infrastructure failures it raised (each one
    retried by the loop, or recorded as `error` when every retry failed)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.capacity = inner.capacity
        self.done = 0
        self.raised: dict[str, int] = {}

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        try:
            verdict = await self.inner.verify(role, verifier, hypothesis)
        except Exception as e:
            self.raised[type(e).__name__] = self.raised.get(type(e).__name__, 0) + 1
            raise
        self.done += 1
        return verdict

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class SoakResult:
    label: str
    hypotheses: int
    elapsed_s: float
    lines: list[str]


def soak_server(
    error_rate: float, burst_after: int, burst_s: float, seed: int
) -> tuple[ScriptedLLMServer, dict]:
    """The counting server with model faults: `error_rate` of requests answered 500, and once `burst_after`
    requests were answered, `burst_s` seconds of 429s with Retry-After: 1."""
    counter, rng = itertools.count(), random.Random(seed)
    faults = {"500": 0, "429": 0, "answered": 0, "burst_began": None}
    lock = threading.Lock()

    def answer(request):
        with lock:
            began = faults["burst_began"]
            if began is None and burst_s and faults["answered"] >= burst_after:
                began = faults["burst_began"] = time.monotonic()
            if began is not None and time.monotonic() - began < burst_s:
                faults["429"] += 1
                return Reply.rate_limited(retry_after=1.0, message="injected burst")
            if error_rate and rng.random() < error_rate:
                faults["500"] += 1
                return Reply.server_error(500, "injected fault")
            faults["answered"] += 1
            return Reply(choices=tuple(str(next(counter)) for _ in range(int(request.body.get("n") or 1))))

    return ScriptedLLMServer(answer), faults


SOAK_MODEL = {"max_retries": 4, "backoff_base_s": 0.01, "backoff_max_s": 2.0, "retry_window_s": 10.0}


async def soak(
    total: int,
    error_rate: float,
    kill_rate: float = 0.0,
    *,
    sandbox: bool = False,
    executor: str = "local",
    cluster=None,
    kill_interval_s: float = 0.5,
    burst_s: float = 3.0,
) -> SoakResult:
    """One soak; `sandbox`: the real process sandbox (bench/soak-sandbox) with SIGKILLs from outside
    (tests/support/soak_faults.py); `executor` local or ray (on `cluster`, one worker actor killed at 40%)."""
    identity = None
    if sandbox:
        # four sandbox workers either way: the local pool, or two Ray worker actors with a pool of two each
        configure(ProcessSandboxConfig(isolation="auto", pool_size=4 if executor == "local" else 2))
        task = load_suite("bench/soak-sandbox", "tests.support.soak_tasks").select(None)[0]
        identity = await sandbox_identity([task])
    else:
        task = task_with(SleepVerifier(0.0, kill_rate))
    capacity = 4 if sandbox else 8
    if executor == "ray":
        source = RunVerifiers.of_task("bench/soak-sandbox", "tests.support.soak_tasks", None, configured())
        config = RayExecutorConfig(address=cluster.address, workers=2, slots=2, attempts=3)
        inner = config.build(ExecutorContext(capacity, [task], source, identity))
    else:
        inner = LocalExecutor(capacity)
    counting = CountingExecutor(inner)
    settings = SearchSettings(samples=32, verify_concurrency=capacity, loop="pipelined", pipeline_requests=4)
    budget = Budget(calls=total, iterations=None)
    rss: list[tuple[int, float]] = []
    load_before = loadavg()
    killer = worker_killer = None
    if sandbox:
        owned = descendants_of(set(cluster.processes()) if executor == "ray" else {os.getpid()})
        killer = SandboxKiller(owned, mean_interval_s=kill_interval_s)
    if executor == "ray":
        worker_killer = WorkerKiller(cluster.processes, lambda: counting.done >= 0.4 * total)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "soak.db") as store:
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        started, resumes = time.monotonic(), 0
        server, faults = soak_server(error_rate, burst_after=total // 32 // 3, burst_s=burst_s, seed=1)
        with server:
            done = asyncio.Event()

            async def sample_rss() -> None:
                while not done.is_set():
                    n = store._row("SELECT COUNT(*) FROM hypotheses")[0]
                    server.clear()  # it records every request (~0.15 KB a hypothesis): the bench's memory
                    rss.append((n, rss_mb()))
                    await asyncio.sleep(1.0)

            side = [asyncio.create_task(sample_rss())]
            side += [asyncio.create_task(k.run(done)) for k in (killer, worker_killer) if k is not None]
            try:
                while True:
                    outcome = await search_once(store, run_id, task, server.openai_base_url, settings, budget,
                                                counting, identity, SOAK_MODEL)  # fmt: skip
                    if outcome.stop_reason not in (StopReason.MODEL_ERROR, StopReason.INFRASTRUCTURE):
                        break
                    resumes += 1  # an outage outlasted the retries: resume, as `assay resume` would
            finally:
                done.set()
                await asyncio.gather(*side)
                await counting.aclose()
                if sandbox:
                    await close_sandbox()
        elapsed = time.monotonic() - started
        calls = store.calls(run_id, task.key)
        entries = store.hypotheses(run_id, task.key)
    answered = {(c.iteration, c.sample) for c in calls if c.ok}
    recorded = [(e.hypothesis.iteration, e.sample) for e in entries]
    seqs = sorted(e.hypothesis.meta[SEQ] for e in entries)
    statuses: dict[str, int] = {}
    for e in entries:
        statuses[e.verdict.status.value] = statuses.get(e.verdict.status.value, 0) + 1
    label = f"{'sandbox' if sandbox else 'trivial'}/{executor}"
    lines = [
        f"soak [{label}]: {len(entries)} hypotheses in {elapsed:.1f} s ({len(entries) / elapsed:.0f}/s), "
        f"stop {outcome.stop_reason.value}, resumes {resumes}; load {load_before} -> {loadavg()}",
        f"  model faults served: {faults['500']} x 500, {faults['429']} x 429 (Retry-After 1, a "
        f"{burst_s:g} s burst), {faults['answered']} requests answered",
        f"  lost (answered, no verdict): {len(answered - set(recorded))}; duplicated: "
        f"{len(recorded) - len(set(recorded))}; seq 0..N-1: {seqs == list(range(len(seqs)))}; verdicts "
        f"{statuses}; infrastructure failures raised to the loop (retried): {counting.raised or 0}",
        "  RSS MB by hypotheses recorded: "
        + ", ".join(f"{n}:{mb:.0f}" for n, mb in rss[:: max(1, len(rss) // 10)]),
        "  RSS MB at 0, 1/4, 1/2 and all of --total (the first sample at or past each, else the last): "
        + ", ".join(f"{n}:{mb:.0f}" for n, mb in rss_at(rss, (0, total // 4, total // 2, total))),
    ]  # fmt: skip
    if sandbox:
        lines += sandbox_checks(entries, killer)
    if worker_killer is not None:
        by_id = {e.hypothesis.id: e.verdict for e in entries}
        hit = {k.hypothesis_id for k in killer.kills} if killer is not None else set()
        fates = [
            (
                by_id[h].status.value,
                by_id[h].feedback[:70],
                "its sandbox job also SIGKILLed" if h in hit else "",
            )
            if h in by_id
            else "lost"
            for h in worker_killer.in_flight
        ]
        killed = [(round(t, 1), p) for t, p in worker_killer.killed]
        lines.append(
            f"  Ray worker actor SIGKILLed at (s, pid): {killed}; its candidates in flight then: "
            f"{len(fates)}, their verdicts {fates} (the executor retries them on the other worker)"
        )
    for line in lines:
        print(line, flush=True)
    return SoakResult(label, len(entries), elapsed, lines)


def sandbox_checks(entries, killer: SandboxKiller) -> list[str]:
    """Every scored verdict carries the score the host computes for its candidate; no error is scored;
    every candidate whose job (or worker) was killed has exactly one verdict: `error`, or the right score
    (its job had finished before the kill landed, or a retry ran it again)."""
    by_id: dict[str, list[Verdict]] = {}
    for e in entries:
        by_id.setdefault(e.hypothesis.id, []).append(e.verdict)
    wrong = sum(
        1
        for e in entries
        if e.verdict.score is not None and e.verdict.score != -expected(e.hypothesis.content) / MODULUS
    )
    scored_errors = sum(
        1 for e in entries if e.verdict.status is VerdictStatus.ERROR and e.verdict.score is not None
    )
    outcome: dict[str, int] = {}
    for kill in killer.kills:
        verdicts = by_id.get(kill.hypothesis_id, [])
        if len(verdicts) != 1:
            what = f"{len(verdicts)} verdicts"
        elif verdicts[0].status is VerdictStatus.ERROR and verdicts[0].score is None:
            what = "error"
        elif verdicts[0].score is not None:
            what = "right score (finished before the kill, or retried)"
        else:
            what = verdicts[0].status.value
        key = f"{kill.target}: {what}"
        outcome[key] = outcome.get(key, 0) + 1
    hit = {k.hypothesis_id for k in killer.kills}
    unaccounted = [
        e.verdict.feedback[:90]
        for e in entries
        if e.verdict.status is VerdictStatus.ERROR and e.hypothesis.id not in hit
    ]
    return [
        f"  `error` verdicts of candidates the injector did not name: {len(unaccounted)} {unaccounted[:3]}",
        f"  SIGKILLs from outside: {len(killer.kills)} ({sum(k.target == 'job' for k in killer.kills)} jobs, "
        f"{sum(k.target == 'worker' for k in killer.kills)} sandbox workers; {killer.scans} scans, "
        f"{killer.empty_scans} found no job); the killed candidates' verdicts: {outcome}",
        f"  scored verdicts with a score other than the host's: {wrong}; error verdicts with a score: "
        f"{scored_errors}",
    ]  # fmt: skip


async def outage(seconds: float, before: int = 16, after: int = 48) -> None:
    """A real outage mid-run: the server answers `before` requests, then refuses every request (503) for
    `seconds`, then answers again; one search with a `retry_window_s` of twice that rides it out."""
    state = {"began": None, "refused": 0, "answered": 0, "last_before": None, "first_after": None}
    lock = threading.Lock()
    counter = itertools.count()

    def answer(request):
        with lock:
            now = time.monotonic()
            if state["began"] is None and state["answered"] >= before:
                state["began"] = now
            if state["began"] is not None and now - state["began"] < seconds:
                state["refused"] += 1
                return Reply.server_error(503, "outage")
            state["answered"] += 1
            if state["began"] is None:
                state["last_before"] = now
            elif state["first_after"] is None:
                state["first_after"] = now
            return Reply(choices=tuple(str(next(counter)) for _ in range(int(request.body.get("n") or 1))))

    load_before = loadavg()
    task = task_with(SleepVerifier(0.02))  # 20-200 ms per verification: the run is still going when it starts
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "o.db") as store:
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
                budget=Budget(calls=before + after, iterations=None), store=store, run_id=run_id,
                settings=SearchSettings(samples=4, loop="pipelined"),
            )  # fmt: skip
            started = time.monotonic()
            outcome = await search.run()
            ended = time.monotonic()
            await model.close()
        calls = store.calls(run_id, task.key)
        entries = store.hypotheses(run_id, task.key)
    answered = {(c.iteration, c.sample) for c in calls if c.ok}
    recorded = [(e.hypothesis.iteration, e.sample) for e in entries]
    began, first_after, last_before = state["began"], state["first_after"], state["last_before"]
    print(f"outage of {seconds:g} s (503 to every request) after {before} answered requests: stop "
          f"{outcome.stop_reason.value} after {ended - started:.1f} s; load {load_before} -> "
          f"{loadavg()}")  # fmt: skip
    if began is None or first_after is None:
        print("  the outage never began or never ended within the run")
        return
    print(f"  outage began {began - started:.1f} s into the run; last answer before it at "
          f"{last_before - started:.1f} s, first answer after it at {first_after - started:.1f} s: the "
          f"model stalled {first_after - last_before:.1f} s (outage {seconds:g} s + "
          f"{first_after - began - seconds:.1f} s until the backoff's next try)")  # fmt: skip
    print(f"  requests refused during the outage: {state['refused']} (backing off, not hammering); answered "
          f"{state['answered']}; calls recorded {len(calls)} ({len(answered)} ok); hypotheses "
          f"{len(entries)}; "
          f"lost (answered, no verdict): {len(answered - set(recorded))}; duplicated: "
          f"{len(recorded) - len(set(recorded))}")  # fmt: skip


async def soak_on_ray(total: int, sandbox: bool, local_first: bool = False) -> None:
    """The sandbox soak on a real local 2-node Ray cluster; `local_first`: the same soak through the local
    executor first, in the same process, and both side by side."""
    if not sandbox:
        raise SystemExit("the Ray soak runs the sandboxed task (its workers rebuild it): add --sandbox")
    results = [await soak(total, 0.05, sandbox=True)] if local_first else []
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as tmp, ray_cluster(Path(tmp)) as cluster:
        print(f"ray cluster (head + worker on 127.0.0.1) up in {cluster.started_s:.1f} s", flush=True)
        try:
            results.append(await soak(total, 0.05, sandbox=True, executor="ray", cluster=cluster))
        finally:
            import ray

            with contextlib.suppress(Exception):
                ray.shutdown()
    print("\n| executor | hypotheses | seconds | hypotheses/s |\n|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.label} | {r.hypotheses} | {r.elapsed_s:.1f} | {r.hypotheses / r.elapsed_s:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("utilisation", "throughput", "soak", "outage"))
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0, help="verification times are 1-10 s x scale")
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sandbox", action="store_true", help="soak: a real process-sandbox job per "
                        "candidate, SIGKILLed from outside at random "
                        "(tests/support/soak_faults.py)")  # fmt: skip
    parser.add_argument("--executor", choices=("local", "ray", "both"), default="local",
                        help="soak: ray and both start a local 2-node Ray cluster")  # fmt: skip
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
        if args.executor == "both":
            asyncio.run(soak_on_ray(args.total, args.sandbox, local_first=True))
        elif args.executor == "ray":
            asyncio.run(soak_on_ray(args.total, args.sandbox))
        else:
            asyncio.run(soak(args.total, error_rate=0.05, kill_rate=0.03, sandbox=args.sandbox))
    else:
        asyncio.run(outage(args.seconds))


if __name__ == "__main__":
    main()
