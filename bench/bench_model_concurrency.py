"""Throughput of the API adapters when the model is slow: 32 requests in flight, each answered after 1 s.

With a perfect client this is 32 completed calls/s; the target is >= 20. What it measures is our overhead
(SDK, retries wrapper, semaphore, event loop) and whether requests really overlap, not the server, so the
scripted server runs in a child process by default (`--same-process` keeps it in ours, sharing the GIL,
which is how the tests run it).

    .venv/bin/python bench/bench_model_concurrency.py [--requests 128] [--latency 1.0] [--in-flight 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support when run as a script

from agent.kernel.types import Message
from agent.models import ModelSettings, make_model
from tests.support import Reply, ScriptedLLMServer

SPECS = {
    "openai": ("openai/gpt-bench", "openai"),
    "anthropic": ("anthropic/claude-bench", "anthropic"),
    "litellm": ("litellm/openai/gpt-bench", "openai"),
}


REPO = Path(__file__).resolve().parents[1]
_CHILD = """
import sys
from tests.support import Reply, ScriptedLLMServer
with ScriptedLLMServer(Reply.text("an answer of a few words").after(float(sys.argv[1]))) as server:
    print(server.port, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


@contextmanager
def serve(latency: float, same_process: bool) -> Iterator[str]:
    """The server's root URL, in this process or a child one."""
    if same_process:
        with ScriptedLLMServer(Reply.text("an answer of a few words").after(latency)) as server:
            yield server.url
        return
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(latency)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield f"http://127.0.0.1:{child.stdout.readline().strip()}"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)


async def measure(adapter: str, requests: int, latency: float, in_flight: int, same_process: bool) -> float:
    spec, wire = SPECS[adapter]
    with serve(latency, same_process) as url:
        base_url = f"{url}/v1" if wire == "openai" else url
        settings = ModelSettings(base_url=base_url, max_concurrency=in_flight, timeout_s=30, max_retries=0)
        model = make_model(spec, settings)
        ask = [Message(role="user", content="go")]
        try:
            await model.generate(ask, n=1)  # warm-up: imports, connection pool, price table
            started = time.perf_counter()
            completions = await model.generate(ask, n=requests)
            elapsed = time.perf_counter() - started
        finally:
            await model.close()
        assert len(completions) == requests
        return requests / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=128)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--adapters", nargs="+", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--same-process", action="store_true", help="run the server in this process")
    args = parser.parse_args()
    where = "same process" if args.same_process else "child process"
    print(
        f"{args.requests} requests, {args.in_flight} in flight, {args.latency:g} s server latency, "
        f"server in {where}, {os.cpu_count()} CPUs; ideal {args.in_flight / args.latency:.1f} calls/s"
    )
    for adapter in args.adapters:
        rate = await measure(adapter, args.requests, args.latency, args.in_flight, args.same_process)
        verdict = "ok" if rate >= 20 else "BELOW TARGET"
        print(f"{adapter:10s} {rate:6.1f} calls/s   ({verdict}, target >= 20)")


if __name__ == "__main__":
    asyncio.run(main())
