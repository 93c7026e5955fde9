"""The Model protocol: what the search asks of any language model.

The search only ever calls `generate` and `close`; providers (API SDKs, the embedded llama.cpp model) live
in `agent/models/` and are found by the spec's prefix, so the loop never knows which one it talks to.

A last, assistant message is the start of the answer (Task.answer_start): a model that continues an answer
(the embedded llama.cpp model) begins its answer with it and returns the whole answer, that start included;
the API adapters leave it out of the request (chat-completions cannot continue one; Anthropic's prefill is
refused by some models) and the model answers from the start. Either way the completion's text is a whole
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agent.kernel.types import Completion, Message


def split_answer_start(messages: Sequence[Message]) -> tuple[list[Message], str]:
    """The messages before a last assistant message, and its text (the answer's start; "" when none)."""
    if messages and messages[-1].role == "assistant":
        return list(messages[:-1]), messages[-1].content
    return list(messages), ""


@runtime_checkable
class Model(Protocol):
    name: str

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.8,
        max_tokens: int = 1024,
        seed: int | None = None,
    ) -> list[Completion]: ...

    async def close(self) -> None: ...
