"""Fixtures for driving every API adapter, through its real SDK, against the scripted server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from agent.models import Model, ModelSettings, make_model
from tests.support import ScriptedLLMServer

#: Settings small enough that a test with a few retries takes well under a second.
#: A generous request timeout: on a loaded machine a 5 s one made healthy requests look timed out and retried.
FAST = ModelSettings(timeout_s=60.0, max_retries=3, max_concurrency=8, backoff_base_s=0.01, backoff_max_s=5.0)


@dataclass(frozen=True)
class Variant:
    """One way of reaching the server: a model spec and which of its wire formats the SDK speaks."""

    id: str
    spec: str
    wire: str  # "openai" or "anthropic"

    def base_url(self, server: ScriptedLLMServer) -> str:
        return server.openai_base_url if self.wire == "openai" else server.anthropic_base_url


VARIANTS = [
    Variant("openai", "openai/gpt-test", "openai"),
    Variant("anthropic", "anthropic/claude-test", "anthropic"),
    Variant("litellm-openai", "litellm/openai/gpt-test", "openai"),
    Variant("litellm-anthropic", "litellm/anthropic/claude-test", "anthropic"),
]

_KEY_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on (or leak) a developer's real keys."""
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


@pytest.fixture(params=VARIANTS, ids=lambda v: v.id)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


ModelFactory = Callable[..., Model]


@pytest.fixture
async def build(server: ScriptedLLMServer, variant: Variant) -> AsyncIterator[ModelFactory]:
    """`build(**settings)` -> the variant's model pointed at the server; closed after the test."""
    made: list[Model] = []

    def factory(spec: str | None = None, **overrides: Any) -> Model:
        settings = replace(FAST, base_url=variant.base_url(server), **overrides)
        model = make_model(spec or variant.spec, settings)
        made.append(model)
        return model

    yield factory
    for model in made:
        await model.close()
