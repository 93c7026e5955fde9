"""What a completion cost, from litellm's bundled price table.

litellm takes seconds to import, so it is imported lazily, in a worker thread, the first time a cost is
needed: a run that never asks pays nothing, and the event loop never stalls on the import. The bundled table
is used (`LITELLM_LOCAL_MODEL_COST_MAP`), so pricing works offline and does not change under a running search.
A model the table does not know costs `None` (unknown), never 0.
"""

from __future__ import annotations

import asyncio
import os
import threading
from types import ModuleType

from agent.kernel.types import Usage

_import_lock = threading.Lock()
_litellm: ModuleType | None = None
_unknown: set[tuple[str, str | None]] = set()


def load_litellm() -> ModuleType:
    """Import litellm once, offline and quiet. Blocking: call it from a thread when on an event loop."""
    global _litellm
    if _litellm is None:
        with _import_lock:
            if _litellm is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                os.environ.setdefault("LITELLM_LOG", "ERROR")
                import litellm

                litellm.suppress_debug_info = True
                _litellm = litellm
    return _litellm


def cost_usd_sync(model: str, usage: Usage, provider: str | None = None) -> float | None:
    """The cost in USD of `usage` on `model`, or None when litellm's table does not price it."""
    if (model, provider) in _unknown:
        return None
    litellm = load_litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            custom_llm_provider=provider,
        )
    except Exception:  # litellm raises several unrelated types for "not in the table"
        _unknown.add((model, provider))
        return None
    return float(prompt_cost) + float(completion_cost)


async def cost_usd(model: str, usage: Usage, provider: str | None = None) -> float | None:
    """`cost_usd_sync` without blocking the event loop on the first (importing) call."""
    if _litellm is None:
        await asyncio.to_thread(load_litellm)
    return cost_usd_sync(model, usage, provider)
