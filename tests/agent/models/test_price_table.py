"""Prices without importing litellm (issue 15 item 6): the direct table read must agree with litellm.

litellm costs 5-13 s of CPU to import; openai and anthropic models are priced from its bundled JSON table
instead. These tests hold that shortcut to litellm's own answer on every such chat model, and check that a
run's price lookups for those models and for local ones leave litellm unimported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from agent.kernel.types import Usage
from agent.models import pricing

USAGES = [
    Usage(prompt_tokens=1_000, completion_tokens=1_000),
    Usage(prompt_tokens=300_000, completion_tokens=7),
]


def _chat_entries() -> list[tuple[str, str]]:
    rows = []
    for key, entry in pricing.price_table().items():
        provider = entry.get("litellm_provider") if isinstance(entry, dict) else None
        if provider in pricing.DIRECT_PROVIDERS and entry.get("mode") in ("chat", "responses", "completion"):
            rows.append((key.removeprefix(f"{provider}/"), provider))
    return rows


def test_the_table_is_found_without_importing_litellm() -> None:
    code = textwrap.dedent(
        """
        import sys
        from agent.kernel.types import Usage
        from agent.models import pricing
        assert pricing.table_prices("openai/gpt-4o-mini")
        assert pricing.table_prices("local/whatever.gguf")
        cost = pricing.cost_usd_sync("gpt-4o-mini", Usage(prompt_tokens=10, completion_tokens=10), "openai")
        assert cost is not None and cost > 0
        assert "litellm" not in sys.modules, "litellm was imported"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_direct_prices_agree_with_litellm() -> None:
    litellm = pricing.load_litellm()
    rows = _chat_entries()
    assert len(rows) > 50  # the table is there and has the models
    checked = 0
    for model, provider in rows:
        for usage in USAGES:
            direct = pricing.direct_cost(model, usage, provider)
            if direct is None:
                continue  # the shortcut declines: litellm answers
            prompt, completion = litellm.cost_per_token(
                model=model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                custom_llm_provider=provider,
            )
            assert direct == pytest.approx(prompt + completion, rel=1e-9, abs=1e-15), (model, usage)
            checked += 1
    assert checked > 100


def test_an_unlisted_model_is_still_unknown() -> None:
    usage = USAGES[0]
    assert pricing.direct_cost("no-such-model-xyz", usage, "openai") is None
    assert pricing.cost_usd_sync("no-such-model-xyz", usage, "openai") is None
    assert pricing.direct_cost("gpt-4o-mini", usage, None) is None  # a litellm/ spec asks litellm
