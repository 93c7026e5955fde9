"""`local/<name or path.gguf>`: an embedded llama.cpp model, so the main job runs with no API key or network.

Why in process rather than `llama_cpp.server` on loopback: both serve one sequence at a time (the server
holds a lock around its single context), so the server buys no concurrency, costs a second copy of the
runtime's startup and an HTTP hop per call, and would need a port. In process, one `Llama` per weights file is
loaded once and shared by every run in the process; it is not thread-safe, so each loaded model owns a
single worker thread and every sample is a job on that thread's queue. That serialises calls without
blocking the event loop, interleaves concurrent runs fairly (FIFO per sample), and drops samples whose caller
was cancelled before they started. Untrusted files are first loaded once in a child process, because
llama.cpp aborts the whole process on some malformed inputs. Before llama_cpp is imported here at all, a
one-time probe (agent/models/native_probe.py, cached per build and CPU) checks in a child that the runtime
runs on this CPU: a native build dies by SIGILL on AMX machines, which would kill the run with no message.

Local failures are never transient, so there are no retries: a prompt that does not fit the context window
is a plain `ModelError` (a recorded failed call), bad weights are `GGUFError`/`WeightsError`.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

# llama.cpp's OpenMP threads spin while idle unless told otherwise, which starves the sandboxes and verifiers
# that share these 2 cores; libgomp reads this once, when llama_cpp is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agent.kernel.errors import ConfigError, ModelError
from agent.kernel.model import split_answer_start
from agent.kernel.types import Completion, Message, Usage
from agent.models.base import PROVIDERS, ModelSettings
from agent.models.gguf_check import GGUFError, GGUFInfo, read_gguf
from agent.models.local_weights import (
    NAMED_MODELS,
    WeightsError,
    ensure_weights,
    progress,
    runtime_installed,
)
from agent.models.native_probe import NativeRuntimeError, check_native_runtime, crash_message

DEFAULT_N_CTX = 8192
#: llama.cpp's in-RAM prompt cache (LlamaRAMCache), per loaded model. The context already reuses the KV of a
#: shared prefix with whatever it evaluated last, so consecutive samples of one prompt prefill once; the
#: cache keeps that true when other prompts interleave (several problems or runs share one model, FIFO per
#: sample). A saved qwen2.5-coder-1.5b state is ~30 KB per token of KV plus a 311 MB logits copy (see
#: counted_ram_cache), so 1 GB holds the last ~3 prompts; least recently used states are dropped. 0
#: (ASSAY_LOCAL_PROMPT_CACHE_MB=0) turns it off. bench/bench_prompt_cache.py measures what it saves and costs.
DEFAULT_PROMPT_CACHE_MB = 1024
_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
INSTALL_HINT = (
    "install the local runtime with scripts/install_local_model.sh, or: "
    f'CMAKE_ARGS="{_CMAKE_ARGS}" pip install "llama-cpp-python==0.3.36" (builds from source, 6-13 min)'
)


class LocalRuntimeMissing(ModelError, ConfigError):
    """llama-cpp-python is not installed; the message says how to build it portably."""


def import_llama_cpp() -> ModuleType:
    """Import llama_cpp lazily, so that assay works (with API models) where it was never built."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as e:
        raise LocalRuntimeMissing(f"local models need llama-cpp-python ({e}); {INSTALL_HINT}") from e
    return llama_cpp


@dataclass
class LoadedModel:
    """One weights file in memory, with the single thread allowed to touch it."""

    llama: Any
    path: Path
    n_ctx: int
    n_threads: int
    load_s: float
    executor: ThreadPoolExecutor
    lock: threading.Lock  # belt and braces: the executor already runs one job at a time
    prompt_cache_mb: int = 0


_LOADED: dict[tuple[str, int, int], LoadedModel] = {}
_LOADED_GUARD = threading.Lock()  # held while loading, so two runs asking at once load the file once
_PROBED: set[tuple[str, int, int]] = set()

_PROBE_SCRIPT = (
    "import sys, llama_cpp\n"
    "llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, verbose=False)\n"
    "print('ok')\n"
)


def probe_in_subprocess(path: Path, timeout_s: float = 600.0) -> None:
    """Load `path` once in a child process: if llama.cpp aborts on it, only the child dies."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _PROBED:
        return
    progress(f"checking {path.name} in a child process before loading it")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        raise GGUFError(f"{path}: llama.cpp did not finish loading it within {timeout_s:.0f} s") from e
    if proc.returncode == -signal.SIGILL:  # the runtime, not the file: it cannot run on this CPU
        raise NativeRuntimeError(crash_message(signal.SIGILL, path))
    if proc.returncode != 0 or "ok" not in proc.stdout:
        how = f"crashed with signal {-proc.returncode}" if proc.returncode < 0 else "refused it"
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise GGUFError(f"{path}: llama.cpp {how} while loading it ({detail})")
    _PROBED.add(key)


def counted_ram_cache(llama_cpp: ModuleType, capacity_bytes: int) -> Any:
    """A LlamaRAMCache whose capacity also counts the logits copy llama-cpp-python keeps with each state.

    LlamaRAMCache counts only llama.cpp's own state (the KV cells), but every saved state also carries a copy
    of the score buffer, n_batch x n_vocab floats: 311 MB for qwen2.5-coder-1.5b, against ~30 KB per token of
    KV. Uncounted, a 512 MB cache of qwen prompts held several GB; counted, the capacity is what it costs.
    """

    class CountedRAMCache(llama_cpp.LlamaRAMCache):  # type: ignore[misc,name-defined]
        @property
        def cache_size(self) -> int:
            return sum(s.llama_state_size + s.scores.nbytes for s in self.cache_state.values())

    return CountedRAMCache(capacity_bytes=capacity_bytes)


def load_shared(
    path: Path, *, n_ctx: int, n_threads: int, trusted: bool, prompt_cache_mb: int = 0
) -> LoadedModel:
    """Load `path` once per (file, context size, prompt cache size) per process; later callers get the same
    instance."""
    key = (str(path.resolve()), n_ctx, prompt_cache_mb)
    with _LOADED_GUARD:
        if key in _LOADED:
            return _LOADED[key]
        if not trusted:
            probe_in_subprocess(path)
        ensure_runs_here(path)  # before llama_cpp is imported here: a native build may crash in process
        llama_cpp = import_llama_cpp()
        size_mb = path.stat().st_size / 1e6
        progress(f"loading {path.name} ({size_mb:.0f} MB, context {n_ctx}, {n_threads} threads)")
        started = time.monotonic()
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise GGUFError(f"{path}: llama.cpp could not load it: {e}") from e
        if prompt_cache_mb > 0:
            llama.set_cache(counted_ram_cache(llama_cpp, prompt_cache_mb * 2**20))
        load_s = time.monotonic() - started
        progress(f"loaded {path.name} in {load_s:.1f} s")
        loaded = LoadedModel(
            llama=llama,
            path=path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            load_s=load_s,
            executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{path.stem[:20]}"),
            lock=threading.Lock(),
            prompt_cache_mb=prompt_cache_mb,
        )
        _LOADED[key] = loaded
        return loaded


def ensure_runs_here(path: Path) -> None:
    """The one-time native-build probe (agent/models/native_probe.py), said on stderr when it runs."""
    result = check_native_runtime(path)
    if not result.cached:
        progress(f"checked that llama.cpp runs on this CPU ({result.seconds:.1f} s, once per build)")


def loaded_models() -> list[LoadedModel]:
    with _LOADED_GUARD:
        return list(_LOADED.values())


def unload_all() -> None:
    """Free every shared model (for benchmarks that measure loading); samples in flight finish first."""
    with _LOADED_GUARD:
        items = list(_LOADED.values())
        _LOADED.clear()
    for loaded in items:
        loaded.executor.shutdown(wait=True)
        with loaded.lock:
            loaded.llama.close()


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def default_threads() -> int:
    """Every core this process may use: on 2 cores, qwen prefills 2x and decodes 1.4x faster than on 1."""
    return _env_int("ASSAY_LOCAL_THREADS") or max(1, len(os.sched_getaffinity(0)))


class LocalModel:
    """The `Model` protocol over a shared in-process llama.cpp instance; cost is always 0."""

    def __init__(
        self,
        ref: str,
        settings: ModelSettings | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        prompt_cache_mb: int | None = None,
    ) -> None:
        self.name = f"local/{ref}"
        self.settings = settings or ModelSettings()
        if not runtime_installed():  # fail now, with the install command, not at the first call
            raise LocalRuntimeMissing(f"local models need llama-cpp-python (not installed); {INSTALL_HINT}")
        self.path, self.trusted = self._resolve(ref)
        if self.trusted:  # a catalogue model: check the runtime now, before a run is recorded
            ensure_runs_here(self.path)
        self.info: GGUFInfo = read_gguf(self.path)
        trained = self.info.context_length
        wanted = n_ctx or _env_int("ASSAY_LOCAL_N_CTX") or DEFAULT_N_CTX
        self.n_ctx = min(wanted, trained) if trained else wanted
        self.n_threads = n_threads or default_threads()
        cache_mb = prompt_cache_mb if prompt_cache_mb is not None else _env_int("ASSAY_LOCAL_PROMPT_CACHE_MB")
        self.prompt_cache_mb = max(0, DEFAULT_PROMPT_CACHE_MB if cache_mb is None else cache_mb)

    @staticmethod
    def _resolve(ref: str) -> tuple[Path, bool]:
        """A catalogue name gives sha256-verified (trusted) weights; anything else is a user's file."""
        if ref in NAMED_MODELS:
            return ensure_weights(ref), True
        path = Path(ref).expanduser()
        if ref.endswith(".gguf") or path.exists() or "/" in ref:
            if not path.exists():
                raise GGUFError(f"GGUF file not found: {path}")
            return path, False
        known = ", ".join(sorted(NAMED_MODELS))
        raise WeightsError(f"unknown local model {ref!r}: use one of {known}, or a path to a .gguf file")

    def load(self) -> LoadedModel:
        """Load (or reuse) the weights now; blocking, so call it from a thread or before the loop starts."""
        return load_shared(
            self.path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            trusted=self.trusted,
            prompt_cache_mb=self.prompt_cache_mb,
        )

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.8,
        max_tokens: int = 1024,
        seed: int | None = None,
    ) -> list[Completion]:
        if n < 1:
            raise ValueError("n must be >= 1")
        key = (str(self.path.resolve()), self.n_ctx, self.prompt_cache_mb)
        loaded = _LOADED.get(key) or await asyncio.to_thread(self.load)
        before, start = split_answer_start(messages)
        chat = [{"role": m.role, "content": m.content} for m in before]
        loop = asyncio.get_running_loop()
        base = random.randrange(2**31) if seed is None else seed
        completions = []
        for i in range(n):  # one job per sample: concurrent runs interleave instead of waiting for all n
            job = loop.run_in_executor(
                loaded.executor,
                self._sample,
                loaded,
                chat,
                start,
                temperature,
                max_tokens,
                (base + i) % 2**31,
            )
            completions.append(await job)
        return completions

    def _sample(
        self,
        loaded: LoadedModel,
        chat: list[dict[str, str]],
        start: str,
        temperature: float,
        max_tokens: int,
        seed: int,
    ) -> Completion:
        """One answer; with a `start` (agent/kernel/model.py), the answer continues it and includes it."""
        started = time.monotonic()
        with loaded.lock:
            try:
                if start and (prompt := continuation_prompt(loaded.llama, chat, start)) is not None:
                    tokens, stop, criteria = prompt
                    response = loaded.llama.create_completion(
                        prompt=tokens, temperature=temperature, max_tokens=max_tokens, seed=seed, stop=stop,
                        stopping_criteria=criteria,
                    )  # fmt: skip
                    text = start + (response["choices"][0].get("text") or "")
                else:
                    response = loaded.llama.create_chat_completion(
                        messages=chat, temperature=temperature, max_tokens=max_tokens, seed=seed
                    )
                    text = response["choices"][0]["message"].get("content") or ""
            except ValueError as e:
                raise ModelError(self._explain(e)) from e
            except RuntimeError as e:
                raise ModelError(f"{self.name}: llama.cpp failed: {e}") from e
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            text=text,
            model=self.name,
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            ),
            cost_usd=0.0,
            finish_reason=choice.get("finish_reason"),
            latency_s=time.monotonic() - started,
        )

    def _explain(self, e: ValueError) -> str:
        text = str(e)
        if "exceed context window" in text:
            trained = self.info.context_length
            room = (
                f" (ASSAY_LOCAL_N_CTX can raise it up to {trained})"
                if trained and trained > self.n_ctx
                else ""
            )
            return f"{self.name}: prompt too long for the context window of {self.n_ctx} tokens: {text}{room}"
        return f"{self.name}: {text}"

    async def close(self) -> None:
        """Nothing to free: the loaded weights are shared with other runs; see `unload_all`."""


def continuation_prompt(
    llama: Any, chat: list[dict[str, str]], start: str
) -> tuple[list[int], list[str], Any] | None:
    """The tokens of `chat` as the model's own chat template renders it for its next answer, followed by
    `start`, and the template's stop strings and criteria; None for a model without a chat template (it
    then answers from the start). Rendered as create_chat_completion does (llama_cpp's Jinja2ChatFormatter,
    its tokens with special tokens parsed), so that the answer differs only by beginning with `start`."""
    template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp import llama_chat_format

    def text(token: int) -> str:
        return llama._model.token_get_text(token) if token != -1 else ""

    eos = llama.token_eos()
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=text(eos), bos_token=text(llama.token_bos()), stop_token_ids=[eos]
    )
    result = formatter(messages=chat)
    tokens = llama.tokenize(
        (result.prompt + start).encode("utf-8"), add_bos=not result.added_special, special=True
    )
    stop = [] if result.stop is None else [result.stop] if isinstance(result.stop, str) else list(result.stop)
    return tokens, stop, result.stopping_criteria


@PROVIDERS.register("local")
def _make_local(ref: str, settings: ModelSettings) -> LocalModel:
    return LocalModel(ref, settings)
