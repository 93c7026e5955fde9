"""What each adapter puts on the wire, and what a completion costs."""

from __future__ import annotations

import math

import pytest

from agent.kernel.types import Message
from agent.models import ModelSettings, make_model
from agent.models.pricing import load_litellm
from tests.support import RecordedRequest, Reply, ScriptedLLMServer

CHAT = [
    Message(role="system", content="Answer in one word."),
    Message(role="user", content="Colour of the sky?"),
    Message(role="user", content="Be brief."),
]


async def _generate(spec: str, base_url: str, **kw: object) -> None:
    model = make_model(spec, ModelSettings(base_url=base_url, backoff_base_s=0.01))
    try:
        await model.generate(CHAT, **kw)  # type: ignore[arg-type]
    finally:
        await model.close()


async def test_openai_sends_one_seed_per_sample() -> None:
    with ScriptedLLMServer("blue") as server:
        await _generate("openai/gpt-test", server.openai_base_url, n=3, seed=7, temperature=0.3)
    bodies = [r.body for r in server.requests]
    assert sorted(b["seed"] for b in bodies) == [7, 8, 9]
    assert all(b["temperature"] == 0.3 and b["model"] == "gpt-test" for b in bodies)
    assert [m["role"] for m in bodies[0]["messages"]] == ["system", "user", "user"]


@pytest.mark.parametrize("spec", ["openai/gpt-test", "litellm/openai/gpt-test", "anthropic/claude-test"])
async def test_the_api_adapters_leave_an_answer_start_out_and_answer_whole(spec: str) -> None:
    """A last assistant message is the answer's start (agent/kernel/model.py): chat-completions cannot
    continue it and some Anthropic models refuse a prefill, so it is not sent, and the text is the reply."""
    start = Message(role="assistant", content="```python\ndef sky():\n")
    with ScriptedLLMServer("```python\ndef sky():\n    return 'blue'\n```") as server:
        url = server.anthropic_base_url if spec.startswith("anthropic") else server.openai_base_url
        model = make_model(spec, ModelSettings(base_url=url, backoff_base_s=0.01))
        try:
            [completion] = await model.generate([*CHAT, start])
        finally:
            await model.close()
    roles = [m["role"] for m in server.requests[0].body["messages"]]
    assert "assistant" not in roles and roles[-1] == "user"
    assert completion.text == "```python\ndef sky():\n    return 'blue'\n```"


async def test_openai_without_seed_sends_none() -> None:
    with ScriptedLLMServer("blue") as server:
        await _generate("openai/gpt-test", server.openai_base_url)
    assert "seed" not in server.requests[0].body


async def test_anthropic_puts_system_in_its_parameter_and_merges_turns() -> None:
    with ScriptedLLMServer("blue") as server:
        await _generate("anthropic/claude-test", server.anthropic_base_url, temperature=1.7, max_tokens=33)
    body = server.requests[0].body
    assert body["system"] == "Answer in one word."
    assert body["messages"] == [{"role": "user", "content": "Colour of the sky?\n\nBe brief."}]
    assert body["temperature"] == 1.0  # clamped into the API's range
    assert body["max_tokens"] == 33


async def test_anthropic_drops_temperature_for_a_model_that_refuses_it() -> None:
    def refuse_temperature(request: RecordedRequest) -> Reply:
        if "temperature" in request.body:
            return Reply.error(400, "temperature is deprecated for this model")
        return Reply.text("blue")

    with ScriptedLLMServer(refuse_temperature) as server:
        model = make_model("anthropic/claude-new", ModelSettings(base_url=server.anthropic_base_url))
        try:
            first = await model.generate(CHAT)
            second = await model.generate(CHAT)
        finally:
            await model.close()
    assert [c.text for c in first + second] == ["blue", "blue"]
    with_temperature = ["temperature" in r.body for r in server.requests]
    assert with_temperature == [True, False, False]  # asked once, then remembered


async def test_litellm_forwards_seed_to_an_openai_server() -> None:
    with ScriptedLLMServer("blue") as server:
        await _generate("litellm/openai/gpt-test", server.openai_base_url, n=2, seed=100)
    assert sorted(r.body["seed"] for r in server.requests) == [100, 101]


def _table_cost(model: str, prompt: int, completion: int) -> float:
    entry = load_litellm().model_cost[model]
    return prompt * entry["input_cost_per_token"] + completion * entry["output_cost_per_token"]


@pytest.mark.parametrize(
    ("spec", "table_name", "wire"),
    [
        ("openai/gpt-4o-mini", "gpt-4o-mini", "openai"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5", "anthropic"),
        ("litellm/openai/gpt-4o-mini", "gpt-4o-mini", "openai"),
    ],
)
async def test_known_models_are_priced_from_the_table(spec: str, table_name: str, wire: str) -> None:
    reply = Reply.text("blue", prompt_tokens=1200, completion_tokens=300)
    with ScriptedLLMServer(reply) as server:
        base_url = server.openai_base_url if wire == "openai" else server.anthropic_base_url
        model = make_model(spec, ModelSettings(base_url=base_url))
        try:
            [completion] = await model.generate(CHAT)
        finally:
            await model.close()
    expected = _table_cost(table_name, 1200, 300)
    assert expected > 0
    assert completion.cost_usd is not None and math.isclose(completion.cost_usd, expected, rel_tol=1e-9)


async def test_openai_n_per_request_posts_what_the_sdk_create_would() -> None:
    """`n_per_request` posts its body without the SDK's `create` (whose TypedDict walk costs ~1 ms a
    request, issue 16): the body and the headers that matter are the same as `create` sends."""
    import openai

    with ScriptedLLMServer("blue") as server:
        model = make_model(
            "openai/gpt-test", ModelSettings(base_url=server.openai_base_url, api_key="k", n_per_request=True)
        )
        try:
            got = await model.generate(CHAT, n=3, seed=7, temperature=0.3, max_tokens=40)
        finally:
            await model.close()
        client = openai.AsyncOpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
        try:
            await client.chat.completions.with_raw_response.create(**server.requests[0].body)
        finally:
            await client.close()
    ours, sdk = server.requests
    assert [c.text for c in got] == ["blue"] * 3
    assert ours.body == sdk.body and ours.body["n"] == 3 and ours.path == sdk.path
    names = ("authorization", "content-type", "x-stainless-raw-response", "accept")
    assert {h: ours.headers.get(h) for h in names} == {h: sdk.headers.get(h) for h in names}
    assert ours.headers["authorization"] == "Bearer k"
