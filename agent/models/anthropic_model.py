"""`anthropic/<model>`: the Anthropic messages API.

The API differs from chat-completions in ways the adapter hides: the system prompt is a parameter rather
than a message, roles must alternate, temperature tops out at 1, and there is no seed. Since SDK 1.0
`temperature` is no longer a keyword of `messages.create` (newer models reject anything but the default),
so it travels in `extra_body`, and a model that refuses it is asked again without it, once and for good.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent.kernel.errors import ModelError, TransientModelError
from agent.kernel.model import split_answer_start
from agent.kernel.types import Completion, Message, Usage
from agent.models import pricing
from agent.models.base import PROVIDERS, ApiModel, ModelSettings
from agent.models.faults import body_message, failure_reason, one_line, resolve_api_key, status_error

if TYPE_CHECKING:
    import anthropic

KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"


def split_system(messages: Sequence[Message]) -> tuple[str | None, list[dict[str, str]]]:
    """System text for the `system` parameter, and the rest with same-role neighbours merged.

    The messages API rejects two user (or assistant) turns in a row; merging keeps a prompt that a
    chat-completions model accepts valid here too.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, str]] = []
    for m in messages:
        if m.role == "system":
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": m.role, "content": m.content})
    return system, turns


class AnthropicModel(ApiModel):
    def __init__(self, model: str, settings: ModelSettings) -> None:
        super().__init__(f"anthropic/{model}", settings)
        import anthropic

        self.model = model
        self.base_url = settings.base_url or os.environ.get(BASE_URL_ENV) or None
        key = resolve_api_key(settings.api_key, KEY_ENV, self.base_url, self.name)
        self._anthropic = anthropic
        self._sends_temperature = True
        self._client = anthropic.AsyncAnthropic(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=settings.timeout_s
        )

    async def _complete(
        self, messages: Sequence[Message], temperature: float, max_tokens: int, seed: int | None
    ) -> Completion:
        # the answer's start is left out (agent/kernel/model.py): a prefill is refused by some models and
        # with extended thinking, and a whole answer is what the task parses either way
        system, turns = split_system(split_answer_start(messages)[0])
        request: dict[str, Any] = {"model": self.model, "messages": turns, "max_tokens": max_tokens}
        if system is not None:
            request["system"] = system
        started = time.monotonic()
        response = await self._request_with_temperature(request, min(max(temperature, 0.0), 1.0))
        latency = time.monotonic() - started

        blocks = getattr(response, "content", None) or []
        text = "".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", None) == "text")
        if not text:
            raise TransientModelError(f"{self.name}: the response has no text content")
        raw_usage = getattr(response, "usage", None)
        usage = Usage(
            prompt_tokens=getattr(raw_usage, "input_tokens", 0) or 0,
            completion_tokens=getattr(raw_usage, "output_tokens", 0) or 0,
        )
        return Completion(
            text=text,
            model=self.name,
            usage=usage,
            cost_usd=await pricing.cost_usd(self.model, usage, "anthropic"),
            finish_reason=getattr(response, "stop_reason", None),
            latency_s=latency,
        )

    async def _request_with_temperature(
        self, request: dict[str, Any], temperature: float
    ) -> anthropic.types.Message:
        if not self._sends_temperature:
            return await self._request(request)
        try:
            return await self._request({**request, "extra_body": {"temperature": temperature}})
        except ModelError as e:
            if isinstance(e, TransientModelError) or "temperature" not in str(e).lower():
                raise
            self._sends_temperature = False  # this model takes no sampling temperature: stop sending it
            return await self._request(request)

    async def _request(self, request: dict[str, Any]) -> anthropic.types.Message:
        anthropic = self._anthropic
        try:
            return await self._client.messages.create(**request)
        except anthropic.APIStatusError as e:
            raise status_error(self.name, e.status_code, body_message(e.body, e), e.response.headers) from e
        except anthropic.APITimeoutError as e:
            raise TransientModelError(f"{self.name}: no response within {self.settings.timeout_s:g}s") from e
        except anthropic.APIConnectionError as e:
            reason = failure_reason(e.__cause__ or e)
            raise TransientModelError(f"{self.name}: connection failed: {reason}") from e
        except (anthropic.APIResponseValidationError, ValueError) as e:  # ValueError: the body is not JSON
            raise TransientModelError(f"{self.name}: malformed response: {one_line(e)}") from e
        except anthropic.AnthropicError as e:
            raise ModelError(f"{self.name}: {one_line(e)}") from e

    async def close(self) -> None:
        await self._client.close()


PROVIDERS.add("anthropic", AnthropicModel)
