"""`litellm/<provider>/<model>`: any of litellm's providers (Gemini, Bedrock, Ollama, Groq, ...).

litellm picks the key from the provider's usual environment variable; which one is missing is asked of
litellm itself at construction, so a run fails before its first prompt, not halfway. litellm's exceptions
all carry an HTTP-like `status_code` (its own timeouts are 408, connection failures 500), so one status rule
classifies them; its retries are switched off so `ApiModel` alone decides.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from agent.kernel.errors import ConfigError, MissingCredentialsError, ModelError, TransientModelError
from agent.kernel.model import split_answer_start
from agent.kernel.types import Completion, Message
from agent.models import pricing
from agent.models.base import PROVIDERS, ApiModel, ModelSettings
from agent.models.faults import LOCAL_DUMMY_KEY, is_local_url, one_line, read_chat_completion, status_error


def _error_headers(e: Exception) -> Mapping[str, str] | None:
    headers = getattr(e, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(e, "response", None), "headers", None)
    return headers


class LiteLLMModel(ApiModel):
    def __init__(self, model: str, settings: ModelSettings) -> None:
        super().__init__(f"litellm/{model}", settings)
        if "/" not in model:
            raise ConfigError(f"bad model spec {self.name!r}: use litellm/<provider>/<model>")
        self.model = model
        self.base_url = settings.base_url
        self._litellm = pricing.load_litellm()
        self.api_key = settings.api_key or self._check_environment()

    def _check_environment(self) -> str | None:
        if is_local_url(self.base_url):
            return LOCAL_DUMMY_KEY if self._missing_keys() else None
        missing = self._missing_keys()
        if missing:
            raise MissingCredentialsError(f"{self.name} needs an API key: set {' and '.join(missing)}")
        return None

    def _missing_keys(self) -> list[str]:
        try:
            report = self._litellm.validate_environment(model=self.model, api_base=self.base_url)
        except Exception:  # a provider litellm cannot check: let the first request tell
            return []
        return [] if report.get("keys_in_environment") else list(report.get("missing_keys") or [])

    async def _complete(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        request: dict[str, Any] = {
            "model": self.model,
            # chat-completions cannot continue an answer: its start is left out (agent/kernel/model.py)
            "messages": [{"role": m.role, "content": m.content} for m in split_answer_start(messages)[0]],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "timeout": self.settings.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,  # e.g. `seed` where the provider has none
        }
        if seed is not None:
            request["seed"] = seed
        if self.base_url:
            request["api_base"] = self.base_url
        if self.api_key:
            request["api_key"] = self.api_key
        started = time.monotonic()
        response = await self._request(request)
        latency = time.monotonic() - started

        text, usage, finish_reason = read_chat_completion(self.name, response)
        return Completion(
            text=text,
            model=self.name,
            usage=usage,
            cost_usd=await pricing.cost_usd(self.model, usage),
            finish_reason=finish_reason,
            latency_s=latency,
        )

    async def _request(self, request: dict[str, Any]) -> Any:
        try:
            return await self._litellm.acompletion(**request)
        except Exception as e:
            status = getattr(e, "status_code", None)
            if isinstance(status, int):
                raise status_error(self.name, status, getattr(e, "message", e), _error_headers(e)) from e
            if isinstance(e, ValueError):  # a body that is not JSON, surfacing unwrapped
                raise TransientModelError(f"{self.name}: malformed response: {one_line(e)}") from e
            raise ModelError(f"{self.name}: {type(e).__name__}: {one_line(e)}") from e


PROVIDERS.add("litellm", LiteLLMModel)
