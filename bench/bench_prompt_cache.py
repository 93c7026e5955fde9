"""Prefill time of the embedded model on the reward and loss prompts, with and without its prompt cache.

For each task prompt (system prompt + the task's instructions, as the search sends it in iteration 0) it
measures, with `max_tokens=1` so that the time is the prefill: a cold prompt (the context last held another
prompt), the same prompt again right after (the context's own prefix reuse: consecutive samples), and the
same prompt after another one came in between (samples of two problems interleaving on the one shared model),
once without the cache and once with LlamaRAMCache. Results go to bench/RESULTS.md under
"## Local model prompt cache".

    .venv/bin/python bench/bench_prompt_cache.py [--model qwen2.5-coder-1.5b] [--tasks ...] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from results_md import write_section

from agent.kernel.plugins import load_suite
from agent.kernel.task import DEFAULT_SYSTEM_PROMPT
from agent.models.local_model import LocalModel, unload_all

HEADING = "## Local model prompt cache"
TASKS = (
    "reward/mountaincar",
    "reward/pendulum",
    "reward/acrobot",
    "loss/noisy-digits",
    "reward/mountaincar-scaffold",
    "reward/pendulum-scaffold",
    "reward/acrobot-scaffold",
    "loss/noisy-digits-scaffold",
)
OTHER = "Say hello."


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": text}]


def prefill_s(llama: Any, text: str) -> tuple[float, int]:
    """Seconds to answer one token to `text`, and the prompt's token count."""
    started = time.monotonic()
    out = llama.create_chat_completion(messages=chat(text), max_tokens=1, temperature=0.0, seed=0)
    return time.monotonic() - started, int(out["usage"]["prompt_tokens"])


def measure(model: LocalModel, text: str) -> dict[str, float]:
    """Cold, consecutive repeat, and after an interleaved prompt with the cache and then without it (one
    loaded model, its cache detached for the last: two full prefills per prompt on a busy machine)."""
    llama = model.load().llama
    cache = llama.cache
    prefill_s(llama, OTHER)
    cold, tokens = prefill_s(llama, text)
    repeat, _ = prefill_s(llama, text)
    prefill_s(llama, OTHER)
    cached, _ = prefill_s(llama, text)
    llama.set_cache(None)
    try:
        prefill_s(llama, OTHER)
        uncached, _ = prefill_s(llama, text)
    finally:
        llama.set_cache(cache)
    return {"tokens": tokens, "cold": cold, "repeat": repeat, "cached": cached, "uncached": uncached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    model = LocalModel(args.model, prompt_cache_mb=1024)
    rows = [
        "| task prompt | prompt tokens | cold s | same prompt again s | after another prompt, no cache s "
        "| after another prompt, RAM cache s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in args.tasks.split(","):
        text = load_suite(name).problems[0].instructions
        m = measure(model, text)
        rows.append(
            f"| {name} | {m['tokens']:.0f} | {m['cold']:.1f} | {m['repeat']:.2f} | {m['uncached']:.1f} "
            f"| {m['cached']:.2f} |"
        )
        print(rows[-1], flush=True)
    cache = model.load().llama.cache
    states = list(cache.cache_state.values())
    mb = sum(state.llama_state_size for state in states) / 2**20
    scores_mb = sum(state.scores.nbytes for state in states) / 2**20
    unload_all()
    head = [
        f"`bench/bench_prompt_cache.py`: local/{args.model}, {model.n_threads} threads, one-token answers "
        "(so the time is the prompt's prefill), system prompt + the task's instructions as iteration 0 sends "
        f"them; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} vCPU, "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (shared machine).",
        "Cold: the context last held another prompt. Same prompt again: the context's own prefix reuse "
        "(consecutive samples of one prompt, with or without the cache). After another prompt: samples of "
        "two problems interleaving on the shared model; without the cache the whole prompt is evaluated "
        "again, with LlamaRAMCache (agent/models/local_model.py, 1024 MB by default) its state is restored.",
        f"The cache then held {len(states)} states: {mb:.0f} MB of llama.cpp state plus {scores_mb:.0f} MB "
        "of logits copies that llama-cpp-python keeps beside each state (the capacity counts both).",
        "",
    ]
    lines = head + rows
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    sys.exit(main())
