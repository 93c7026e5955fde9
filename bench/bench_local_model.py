"""Benchmark the embedded local models: load time, prompt and generation tokens/s, peak RSS.

Each (model, threads) measurement runs in its own child process so that load time is a cold-ish load (page
cache warm, as on any second run) and peak RSS belongs to that model alone. Results replace the
"## Local model" section of bench/RESULTS.md.

    .venv/bin/python bench/bench_local_model.py                 # both models, 1 and 2 threads
    .venv/bin/python bench/bench_local_model.py --models smollm2-135m --threads 2 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Local model"

_LONG_PROMPT = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(45))


def measure_one(name: str, threads: int) -> dict[str, float | int | str]:
    """Runs inside the child: load, then time a long prompt (prefill) and a long answer (decode)."""
    from agent.kernel.types import Message
    from agent.models.local_model import LocalModel

    model = LocalModel(name, n_threads=threads)
    started = time.monotonic()
    model.load()
    load_s = time.monotonic() - started

    async def run() -> dict[str, float | int]:
        # Prefill: a ~600-token prompt and one output token; the prompt is new, so nothing is cached.
        prompt = [Message(role="user", content=_LONG_PROMPT + "\nHow many items are there?")]
        t = time.monotonic()
        [c] = await model.generate(prompt, max_tokens=1, temperature=0.0)
        prefill_s = time.monotonic() - t
        # Decode: a short prompt asking for a long answer, evaluated once first so the timed call is decode.
        ask = [
            Message(role="user", content="Write a long, detailed Python tutorial about sorting algorithms.")
        ]
        t = time.monotonic()
        await model.generate(ask, max_tokens=1, temperature=0.0)  # puts the prompt in the KV cache
        one_s = time.monotonic() - t
        t = time.monotonic()
        [long] = await model.generate(ask, max_tokens=160, temperature=0.0)
        decode_s = time.monotonic() - t  # the prompt is in the KV cache now: this is (almost) pure decode
        return {
            "prompt_tokens": c.usage.prompt_tokens,
            "prefill_tok_s": c.usage.prompt_tokens / prefill_s,
            "completion_tokens": long.usage.completion_tokens,
            "decode_tok_s": long.usage.completion_tokens / decode_s,
            "short_call_s": one_s,
        }

    out = asyncio.run(run())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": name, "threads": threads, "load_s": load_s, "peak_rss_mb": peak_mb, **out}


def concurrency_one(name: str, threads: int) -> dict[str, float]:
    """Two runs sharing one model at once vs one after the other: serialised, so the totals should match."""
    from agent.kernel.types import Message
    from agent.models.local_model import LocalModel

    a, b = LocalModel(name, n_threads=threads), LocalModel(name, n_threads=threads)
    a.load()
    p1 = [Message(role="user", content="Explain binary search in detail.")]
    p2 = [Message(role="user", content="Explain quicksort in detail.")]

    async def run() -> dict[str, float]:
        await a.generate(p1, max_tokens=1)
        t = time.monotonic()
        await a.generate(p1, n=2, max_tokens=64, temperature=0.0, seed=1)
        await b.generate(p2, n=2, max_tokens=64, temperature=0.0, seed=1)
        sequential = time.monotonic() - t
        t = time.monotonic()
        await asyncio.gather(
            a.generate(p1, n=2, max_tokens=64, temperature=0.0, seed=1),
            b.generate(p2, n=2, max_tokens=64, temperature=0.0, seed=1),
        )
        return {"sequential_s": sequential, "concurrent_s": time.monotonic() - t}

    return asyncio.run(run())


def server_one(name: str, threads: int) -> dict[str, float]:
    """The alternative design: `llama_cpp.server` on loopback, driven through the openai SDK, same workload.

    Needs the server's extra dependencies (fastapi, uvicorn, sse-starlette, starlette-context), which assay
    does not install; point PYTHONPATH at them, e.g. `pip install --target DIR --no-deps ...`.
    """
    import socket
    import urllib.request

    from openai import AsyncOpenAI

    from agent.models.local_model import LocalModel

    path = LocalModel(name, n_threads=threads).path
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--n_ctx", "8192"]
    cmd += ["--n_threads", str(threads), "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
                break
            except OSError as e:
                if server.poll() is not None or time.monotonic() - started > 300:
                    raise SystemExit(
                        "llama_cpp.server did not start (are its extra dependencies on PYTHONPATH?)"
                    ) from e
                time.sleep(0.1)
        ready_s = time.monotonic() - started
        client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")

        async def one(prompt: str, seed: int) -> None:
            await client.chat.completions.create(
                model=name,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=64,
                temperature=0.0,
                seed=seed,
            )

        async def run() -> dict[str, float]:
            await one("Explain binary search in detail.", 0)
            t = time.monotonic()
            for prompt in ("Explain binary search in detail.", "Explain quicksort in detail."):
                for seed in (1, 2):
                    await one(prompt, seed)
            sequential = time.monotonic() - t
            t = time.monotonic()
            await asyncio.gather(
                *(
                    one(p, seed)
                    for p in ("Explain binary search in detail.", "Explain quicksort in detail.")
                    for seed in (1, 2)
                )
            )
            return {"ready_s": ready_s, "sequential_s": sequential, "concurrent_s": time.monotonic() - t}

        return asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=30)


def _best(args: list[str], repeat: int) -> dict[str, float | int | str]:
    """Best of `repeat` runs per field (shortest time, highest rate): on a shared machine noise only slows."""
    runs = [_child(args) for _ in range(repeat)]
    best = dict(runs[0])
    for run in runs[1:]:
        for key, value in run.items():
            if isinstance(value, float):
                faster = key.endswith("tok_s")
                best[key] = max(best[key], value) if faster else min(best[key], value)  # type: ignore[type-var]
    return best


def _child(args: list[str]) -> dict[str, float | int | str]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False, timeout=1800
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_section(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = old.find(SECTION)
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end + 1 :] if end != -1 else "")
    RESULTS.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-coder-1.5b"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="best of N child runs per measurement")
    parser.add_argument("--server", action="store_true", help="also time llama_cpp.server on loopback")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", nargs=2, metavar=("MODEL", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--server-one", nargs=2, metavar=("MODEL", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]))))
        return
    if args.concurrency:
        print(json.dumps(concurrency_one(args.concurrency[0], int(args.concurrency[1]))))
        return
    if args.server_one:
        print(json.dumps(server_one(args.server_one[0], int(args.server_one[1]))))
        return

    load_start = os.getloadavg()[0]
    rows = []
    for name in args.models:
        for threads in args.threads:
            row = _best(["--one", name, str(threads)], args.repeat)
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    conc = {name: _best(["--concurrency", name, str(max(args.threads))], args.repeat) for name in args.models}
    print(json.dumps(conc), file=sys.stderr)
    served = {}
    if args.server:
        served = {
            name: _best(["--server-one", name, str(max(args.threads))], args.repeat) for name in args.models
        }
        print(json.dumps(served), file=sys.stderr)

    import llama_cpp

    lines = [
        SECTION,
        "",
        f"`bench/bench_local_model.py`, llama-cpp-python {llama_cpp.__version__} built with "
        "`-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON`, "
        f"OMP_WAIT_POLICY=PASSIVE, {os.cpu_count()} vCPU ({platform.processor() or platform.machine()}), "
        f"machine shared with other work (load average {load_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end), best of {args.repeat} runs, "
        f"{time.strftime('%Y-%m-%d')}. Load = from file to ready (page cache warm); prefill = a ~600-token "
        "prompt; decode = 160 tokens at temperature 0; peak RSS of a process that loaded one model with an "
        "8192-token context.",
        "",
        "| model | threads | load s | prefill tok/s | decode tok/s | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['load_s']:.2f} | {r['prefill_tok_s']:.0f} | "
            f"{r['decode_tok_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    lines += ["", "Two runs sharing one loaded model (2 samples x 64 tokens each), in-process lock:", ""]
    for name, c in conc.items():
        lines.append(
            f"- {name}: one after the other {c['sequential_s']:.1f} s, concurrently {c['concurrent_s']:.1f} s"
        )
    if served:
        lines += [
            "",
            "The same workload through `llama_cpp.server` on loopback (openai SDK), the rejected design:",
            "",
        ]
        for name, c in served.items():
            lines.append(
                f"- {name}: server ready after {c['ready_s']:.1f} s; one after the other "
                f"{c['sequential_s']:.1f} s, concurrently {c['concurrent_s']:.1f} s"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
