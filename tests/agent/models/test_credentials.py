"""Keys and specs: a misconfiguration fails at construction, with the fix in the message."""

from __future__ import annotations

import pytest

from agent.kernel.errors import ConfigError, MissingCredentialsError, UnknownNameError
from agent.kernel.types import Message
from agent.models import ModelSettings, make_model
from tests.support import Reply, ScriptedLLMServer

ASK = [Message(role="user", content="hi")]


@pytest.mark.parametrize(
    ("spec", "variable"),
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic/claude-haiku-4-5", "ANTHROPIC_API_KEY"),
        ("litellm/openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("litellm/anthropic/claude-haiku-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_missing_key_names_the_variable(spec: str, variable: str) -> None:
    with pytest.raises(MissingCredentialsError, match=variable):
        make_model(spec)


def test_remote_base_url_still_needs_a_key() -> None:
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY"):
        make_model("openai/some-model", ModelSettings(base_url="https://llm.example.com/v1"))


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_model("nosuchprovider/model")
    for known in ("openai", "anthropic", "litellm"):
        assert known in str(info.value)


@pytest.mark.parametrize("spec", ["openai", "openai/", "litellm/gpt-4o-mini"])
def test_malformed_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        make_model(spec, ModelSettings(base_url="http://127.0.0.1:9/v1"))


async def test_openai_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedLLMServer(Reply.text("ok")) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        model = make_model("openai/gpt-test")
        try:
            [completion] = await model.generate(ASK)
        finally:
            await model.close()
    assert completion.text == "ok"
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env"


async def test_explicit_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-env")
    with ScriptedLLMServer(Reply.text("ok")) as server:
        model = make_model(
            "anthropic/claude-test", ModelSettings(base_url=server.anthropic_base_url, api_key="explicit")
        )
        try:
            await model.generate(ASK)
        finally:
            await model.close()
    headers = server.requests[0].headers
    sent = headers.get("x-api-key") or headers["authorization"]  # SDK 2.x sends a bearer token
    assert sent in {"explicit", "Bearer explicit"}


@pytest.mark.parametrize(
    ("spec", "wire"),
    [("openai/m", "openai"), ("anthropic/m", "anthropic"), ("litellm/openai/m", "openai")],
)
async def test_local_server_needs_no_key(spec: str, wire: str) -> None:
    with ScriptedLLMServer(Reply.text("local answer")) as server:
        base_url = server.openai_base_url if wire == "openai" else server.anthropic_base_url
        model = make_model(spec, ModelSettings(base_url=base_url.replace("127.0.0.1", "localhost")))
        try:
            [completion] = await model.generate(ASK)
        finally:
            await model.close()
    assert completion.text == "local answer"
