"""The Model protocol, model specs, and the retry/concurrency machinery every API adapter shares.

A spec is `<provider>/<rest>`: `openai/gpt-4o-mini`, `anthropic/claude-3-5-haiku-latest`,
`litellm/<provider>/<model>`, `local/<name or path.gguf>`. Providers are looked up in a registry; each
adapter only implements one request (`_complete`) and maps its SDK's errors onto `TransientModelError`
(worth retrying) or `ModelError` (not).
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
        return list(
            await asyncio.gather(
                *(
                    self._with_retries(messages, temperature, max_tokens, None if seed is None else seed + i)
                    for i in range(n)
                )
            )
        )

    async def _with_retries(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            try:
                async with self._slots:
                    return await asyncio.wait_for(
                        self._complete(messages, temperature, max_tokens, seed),
                        timeout=self.settings.timeout_s + 5.0,
                    )
            except TransientModelError as e:
                if attempt + 1 == attempts:
                    raise ModelError(f"{self.name}: gave up after {attempts} attempts: {e}") from e
                await asyncio.sleep(backoff_delay(attempt, self.settings, e.retry_after))
            except TimeoutError as e:
                if attempt + 1 == attempts:
                    raise ModelError(f"{self.name}: request timed out {attempts} times") from e
                await asyncio.sleep(backoff_delay(attempt, self.settings, None))
        raise AssertionError("unreachable")

    @abstractmethod
    async def _complete(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        """One request; raise TransientModelError for what a retry may fix, ModelError otherwise."""

    async def close(self) -> None:  # noqa: B027 - adapters without resources need nothing
        pass
