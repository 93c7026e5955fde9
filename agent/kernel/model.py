"""The Model protocol: what the search asks of any language model.

The search only ever calls `generate` and `close`; providers (API SDKs, the embedded llama.cpp model) live
in `agent/models/` and are found by the spec's prefix, so the loop never knows which one it talks to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agent.kernel.types import Completion, Message


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
