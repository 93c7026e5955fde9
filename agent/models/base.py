"""The Model protocol, model specs, and the retry/concurrency machinery every API adapter shares.

A spec is `<provider>/<rest>`: `openai/gpt-4o-mini`, `anthropic/claude-3-5-haiku-latest`,
`litellm/<provider>/<model>`, `local/<name or path.gguf>`. Providers are looked up in a registry; each
adapter only implements one request (`_complete`) and maps its SDK's errors onto `TransientModelError`
(worth retrying) or `ModelError` (not).
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from agent.kernel.errors import ConfigError, ModelError, TransientModelError
from agent.kernel.model import Model
from agent.kernel.registry import Registry
from agent.kernel.types import Completion, Message
from agent.models.ensemble import is_ensemble_spec, make_ensemble


@dataclass(frozen=True)
class ModelSettings:
    base_url: str | None = None
    api_key: str | None = None  # overrides the provider's environment variable
    timeout_s: float = 120.0  # per request
    max_retries: int = 4
    max_concurrency: int = 8
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    #: keep retrying transient failures (429s, 5xx, resets) until this many seconds have passed since the
    #: request's first failure, even past `max_retries`, so a provider's outage of a minute or a burst of
    #: rate limits is waited out (backing off up to `backoff_max_s`) instead of ending the search; 0: off
    retry_window_s: float = 0.0
    #: send `n` as one request (the OpenAI wire format's `n`) where the adapter supports it, instead of n
    #: requests: a provider that honours `n` answers n samples for one request's overhead
    n_per_request: bool = False


T = TypeVar("T")
ModelFactory = Callable[[str, ModelSettings], Model]
PROVIDERS: Registry[ModelFactory] = Registry("model provider")


def make_model(spec: str, settings: ModelSettings | None = None) -> Model:
    """Build a model from its spec, e.g. `openai/gpt-4o-mini`; `openai/a,anthropic/b=2` builds an ensemble
    (agent/models/ensemble.py) split by weight (the run layer chooses another split)."""
    if is_ensemble_spec(spec):
        return make_ensemble(spec, lambda member: make_model(member, settings))
    _load_providers()
    provider, sep, rest = spec.partition("/")
    if not sep or not rest:
        raise ConfigError(
            f"bad model spec {spec!r}: use <provider>/<model>, provider one of {', '.join(PROVIDERS)}"
        )
    return PROVIDERS.get(provider)(rest, settings or ModelSettings())


_PROVIDER_MODULES = (
    "agent.models.openai_model",
    "agent.models.anthropic_model",
    "agent.models.litellm_model",
    "agent.models.local_model",  # imports llama_cpp only when a local model is built
)


def _load_providers() -> None:
    import importlib

    for module in _PROVIDER_MODULES:
        importlib.import_module(module)


def backoff_delay(attempt: int, settings: ModelSettings, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2**attempt))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.backoff_max_s))
    return delay


class ApiModel(ABC):
    """Base of the API adapters: fans out `n` samples, bounds concurrency, retries transient failures."""

    def __init__(self, name: str, settings: ModelSettings) -> None:
        self.name = name
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.max_concurrency)

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
        if n > 1 and self.settings.n_per_request and self.supports_n:
            return await self._with_retries_n(messages, temperature, max_tokens, seed, n)
        return list(
            await asyncio.gather(
                *(
                    self._with_retries(messages, temperature, max_tokens, None if seed is None else seed + i)
                    for i in range(n)
                )
            )
        )

    #: whether `_complete_n` asks for n samples in one request (the adapter's wire format has `n`)
    supports_n = False

    async def _with_retries(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        return await self._retrying(lambda: self._complete(messages, temperature, max_tokens, seed))

    async def _with_retries_n(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None, n: int
    ) -> list[Completion]:
        """n samples in one request; a server that answers fewer choices has the rest asked one by one."""
        got = await self._retrying(lambda: self._complete_n(messages, temperature, max_tokens, seed, n))
        rest = await asyncio.gather(
            *(
                self._with_retries(messages, temperature, max_tokens, None if seed is None else seed + i)
                for i in range(len(got), n)
            )
        )
        return [*got[:n], *rest]

    async def _retrying(self, request: Callable[[], Awaitable[T]]) -> T:
        """One request with retries of transient failures: `max_retries` of them, and more while the
        `retry_window_s` since the first failure lasts (an outage is waited out, not given up on)."""
        attempts = self.settings.max_retries + 1
        first_failure: float | None = None
        attempt = 0
        while True:
            try:
                async with self._slots:
                    return await asyncio.wait_for(request(), timeout=self.settings.timeout_s + 5.0)
            except (TransientModelError, TimeoutError) as e:
                now = time.monotonic()
                first_failure = now if first_failure is None else first_failure
                in_window = now - first_failure < self.settings.retry_window_s
                if attempt + 1 >= attempts and not in_window:
                    if isinstance(e, TimeoutError):
                        raise ModelError(f"{self.name}: request timed out {attempt + 1} times") from e
                    raise ModelError(f"{self.name}: gave up after {attempt + 1} attempts: {e}") from e
                retry_after = e.retry_after if isinstance(e, TransientModelError) else None
                await asyncio.sleep(backoff_delay(min(attempt, 30), self.settings, retry_after))
                attempt += 1

    async def _complete_n(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None, n: int
    ) -> list[Completion]:
        """Up to n samples in one request (adapters with `supports_n`); fewer is allowed, none is not."""
        raise NotImplementedError

    @abstractmethod
    async def _complete(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        """One request; raise TransientModelError for what a retry may fix, ModelError otherwise."""

    async def close(self) -> None:  # noqa: B027 - adapters without resources need nothing
        pass
