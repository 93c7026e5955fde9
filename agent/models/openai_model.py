"""`openai/<model>`: the OpenAI chat-completions API, or any server that speaks it (vLLM, llama.cpp, ...).

The SDK's own retries are off (`max_retries=0`): `ApiModel` owns retrying, so backoff, Retry-After and the
attempt count are the same for every provider and visible to tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent.kernel.errors import ModelError, TransientModelError
from agent.kernel.types import Completion, Message
from agent.models import pricing
from agent.models.base import PROVIDERS, ApiModel, ModelSettings
from agent.models.faults import (
    body_message,
    failure_reason,
    one_line,
    read_chat_completion,
    resolve_api_key,
    status_error,
)

if TYPE_CHECKING:
    import openai

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"


class OpenAIModel(ApiModel):
    def __init__(self, model: str, settings: ModelSettings) -> None:
        super().__init__(f"openai/{model}", settings)
        import openai

        self.model = model
        self.base_url = settings.base_url or os.environ.get(BASE_URL_ENV) or None
        key = resolve_api_key(settings.api_key, KEY_ENV, self.base_url, self.name)
        self._openai = openai
        self._client = openai.AsyncOpenAI(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=settings.timeout_s
        )
        # OpenAI's own API wants `max_completion_tokens` (reasoning models reject `max_tokens`); compatible
        # servers (llama.cpp, older vLLM) only know `max_tokens`.
        official = self.base_url is None or "api.openai.com" in self.base_url
        self._max_tokens_param = "max_completion_tokens" if official else "max_tokens"

    async def _complete(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": temperature,
            self._max_tokens_param: max_tokens,
        }
        if seed is not None:
            request["seed"] = seed
        started = time.monotonic()
        response = await self._request(request)
        latency = time.monotonic() - started

        text, usage, finish_reason = read_chat_completion(self.name, response)
        return Completion(
            text=text,
            model=self.name,
            usage=usage,
            cost_usd=await pricing.cost_usd(self.model, usage, "openai"),
            finish_reason=finish_reason,
            latency_s=latency,
        )

    async def _request(self, request: dict[str, Any]) -> openai.types.chat.ChatCompletion:
        openai = self._openai
        try:
            return await self._client.chat.completions.create(**request)
        except openai.APIStatusError as e:
            raise status_error(self.name, e.status_code, body_message(e.body, e), e.response.headers) from e
        except openai.APITimeoutError as e:
            raise TransientModelError(f"{self.name}: no response within {self.settings.timeout_s:g}s") from e
        except openai.APIConnectionError as e:
            reason = failure_reason(e.__cause__ or e)
            raise TransientModelError(f"{self.name}: connection failed: {reason}") from e
        except (openai.APIResponseValidationError, ValueError) as e:  # ValueError: the body is not JSON
            raise TransientModelError(f"{self.name}: malformed response: {one_line(e)}") from e
        except openai.OpenAIError as e:
            raise ModelError(f"{self.name}: {one_line(e)}") from e

    async def close(self) -> None:
        await self._client.close()


PROVIDERS.add("openai", OpenAIModel)
