"""`openai/<model>`: the OpenAI chat-completions API, or any server that speaks it (vLLM, llama.cpp, ...).

The SDK's own retries are off (`max_retries=0`): `ApiModel` owns retrying, so backoff, Retry-After and the
attempt count are the same for every provider and visible to tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from agent.kernel.errors import ModelError, TransientModelError
from agent.kernel.model import split_answer_start
from agent.kernel.types import Completion, Message
from agent.models import pricing
from agent.models.base import PROVIDERS, ApiModel, ModelSettings
from agent.models.faults import (
    body_message,
    failure_reason,
    one_line,
    read_chat_choices,
    read_chat_completion,
    resolve_api_key,
    status_error,
)

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"  # the SDK's own (openai._constants)


def raw_options() -> dict[str, Any]:
    """The request options `chat.completions.with_raw_response.create` sends (the raw-response header, the
    bearer key), for posting a body directly: `create` first walks the body against the SDK's TypedDicts
    (`async_maybe_transform`, ~1 ms a request here), which for a body of plain strings and numbers, as
    `_body` builds it, changes nothing (issue 16: framework throughput). Fresh each request: the SDK
    builds its options from this mapping."""
    return {"headers": {RAW_RESPONSE_HEADER: "true"}, "security": {"bearer_auth": True}}


class OpenAIModel(ApiModel):
    supports_n = True  # the chat-completions API takes `n` (llama.cpp's server answers one choice)

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
        request = self._body(messages, temperature, max_tokens, seed)
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

    async def _complete_n(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None, n: int
    ) -> list[Completion]:
        """n samples in one request (`n`); each completion carries its share of the usage and cost."""
        request = {**self._body(messages, temperature, max_tokens, seed), "n": n}
        started = time.monotonic()
        response = await self._request(request, raw=True)
        latency = time.monotonic() - started
        return [
            Completion(
                text=text,
                model=self.name,
                usage=usage,
                cost_usd=await pricing.cost_usd(self.model, usage, "openai"),
                finish_reason=finish_reason,
                latency_s=latency,
            )
            for text, usage, finish_reason in read_chat_choices(self.name, response)[:n]
        ]

    def _body(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            # chat-completions cannot continue an answer: its start is left out (agent/kernel/model.py)
            "messages": [{"role": m.role, "content": m.content} for m in split_answer_start(messages)[0]],
            "temperature": temperature,
            self._max_tokens_param: max_tokens,
        }
        if seed is not None:
            request["seed"] = seed
        return request

    async def _request(self, request: dict[str, Any], *, raw: bool = False) -> Any:
        """The SDK's parsed response; `raw`: the body's JSON as plain dicts (building the SDK's typed models
        of n choices costs about 2 ms a choice, more than the rest of a hypothesis's handling)."""
        openai = self._openai
        try:
            if raw:
                response = await self._client.post(
                    "/chat/completions", cast_to=object, body=request, options=raw_options()
                )
                return response.http_response.json()
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
