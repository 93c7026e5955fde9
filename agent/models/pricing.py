"""What a completion cost, from litellm's bundled price table.

litellm takes 5-13 s of CPU to import (42% of a short run's host CPU), so for `openai/` and `anthropic/`
models the bundled table is read as JSON (~0.1 s) and a flat per-token price is computed directly; that
agrees with `litellm.cost_per_token` on every such chat model in the table (tests/agent/models/
test_price_table.py). litellm itself is imported lazily, in a worker thread, only where the direct read
cannot answer for sure: a `litellm/` model, a model not found under its own name, tiered prices past their
first tier, or a user who asked litellm for the remote table. The bundled table is used
(`LITELLM_LOCAL_MODEL_COST_MAP`), so pricing works offline and does not change under a running search.
A model the table does not know costs `None` (unknown), never 0.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from agent.kernel.model import Model
from agent.kernel.types import Completion, Message, Usage

_import_lock = threading.Lock()
_litellm: ModuleType | None = None
_unknown: set[tuple[str, str | None]] = set()
_table_lock = threading.Lock()
_table: dict[str, Any] | None = None
TABLE_FILE = "model_prices_and_context_window_backup.json"
#: providers whose table entries hold a flat price per token under the adapter's own model name
DIRECT_PROVIDERS = ("openai", "anthropic")
_DIRECT_MODES = ("chat", "responses", "completion")
_TIER = re.compile(r"_above_(\d+)k_tokens$")


def price_table() -> dict[str, Any]:
    """litellm's bundled table, read without importing litellm (`find_spec` locates, never executes, it);
    empty when litellm or the file is missing, so callers fall back to litellm's own lookup."""
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                spec = importlib.util.find_spec("litellm")
                folders = list(spec.submodule_search_locations or []) if spec is not None else []
                table: dict[str, Any] = {}
                for folder in folders:
                    path = Path(folder) / TABLE_FILE
                    if path.is_file():
                        loaded = json.loads(path.read_text(encoding="utf-8"))
                        table = loaded if isinstance(loaded, dict) else {}
                        break
                _table = table
    return _table


def direct_cost(model: str, usage: Usage, provider: str | None) -> float | None:
    """The cost from the table alone, or None where only litellm can say (then ask `cost_usd_sync`)."""
    if provider not in DIRECT_PROVIDERS or os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "True") != "True":
        return None
    table = price_table()
    for key in (model, f"{provider}/{model}"):
        entry = table.get(key)
        if isinstance(entry, dict) and entry.get("litellm_provider") == provider:
            return _flat_cost(entry, usage)
    return None


def _flat_cost(entry: dict[str, Any], usage: Usage) -> float | None:
    price_in, price_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if entry.get("mode") not in _DIRECT_MODES:
        return None
    if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in (price_in, price_out)):
        return None
    for key in entry:
        if "_above_" in key:  # a tiered price: the flat one holds only up to the first tier
            tier = _TIER.search(key)
            if tier is None or usage.prompt_tokens > int(tier.group(1)) * 1000:
                return None
    return usage.prompt_tokens * float(price_in) + usage.completion_tokens * float(price_out)


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
    direct = direct_cost(model, usage, provider)
    if direct is not None:
        return direct
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
    direct = direct_cost(model, usage, provider)
    if direct is not None:
        return direct
    if _litellm is None:
        await asyncio.to_thread(load_litellm)
    return cost_usd_sync(model, usage, provider)


@dataclass(frozen=True)
class Price:
    """A price the user gave (USD per million tokens), for a model the table does not know or prices
    wrongly (a discount, a self-hosted server): it replaces the table's for every completion."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        tokens_in, tokens_out = usage.prompt_tokens, usage.completion_tokens
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1e6


def table_prices(spec: str) -> bool:
    """Whether litellm's table prices the model of `spec`, looked up the way its adapter does; a local
    model is free (its completions cost 0, not an unknown amount). Reads the table directly for openai and
    anthropic models it lists; imports litellm only for the rest (see the module docstring)."""
    provider, _, rest = spec.partition("/")
    if provider == "local":
        return True
    lookup = {"openai": (rest, "openai"), "anthropic": (rest, "anthropic"), "litellm": (rest, None)}
    if provider not in lookup:
        return False
    model, table_provider = lookup[provider]
    probe = Usage(prompt_tokens=1_000, completion_tokens=1_000)
    return cost_usd_sync(model, probe, table_provider) is not None


class PricedModel:
    """A model whose completions are priced at the user's `Price` instead of the table's."""

    def __init__(self, inner: Model, price: Price) -> None:
        self.inner = inner
        self.price = price
        self.name = inner.name

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.8,
        max_tokens: int = 1024,
        seed: int | None = None,
    ) -> list[Completion]:
        completions = await self.inner.generate(
            messages, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed
        )
        return [c.model_copy(update={"cost_usd": self.price.cost(c.usage)}) for c in completions]

    async def close(self) -> None:
        await self.inner.close()
