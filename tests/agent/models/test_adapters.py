"""Every adapter, through its real SDK and real HTTP, against scripted successes and API failures."""

from __future__ import annotations

import pytest

from agent.kernel.errors import ModelError, TransientModelError
from agent.kernel.types import Message
from tests.agent.models.conftest import ModelFactory, Variant
from tests.support import Reply, ScriptedLLMServer

PROMPT = [
    Message(role="system", content="You are terse."),
    Message(role="user", content="What is six times seven?"),
]


async def test_success_carries_text_usage_and_one_request_per_sample(
    server: ScriptedLLMServer, build: ModelFactory, variant: Variant
) -> None:
    server.set_script(Reply.text("forty two", prompt_tokens=11, completion_tokens=2))
    model = build()

    completions = await model.generate(PROMPT, n=3, temperature=0.5, max_tokens=64)

    assert [c.text for c in completions] == ["forty two"] * 3
    for c in completions:
        assert c.model == variant.spec
        assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (11, 2)
        assert c.finish_reason in {"stop", "end_turn"}
        assert c.latency_s > 0
        assert c.cost_usd is None  # the table does not price a made-up model
    requests = server.requests
    assert len(requests) == 3
    assert all(r.api == variant.wire for r in requests)
    assert "What is six times seven?" in requests[0].prompt_text
    assert "You are terse." in requests[0].prompt_text
    assert requests[0].body["max_tokens"] == 64


@pytest.mark.parametrize(
    "fault",
    [
        Reply.server_error(500),
        Reply.server_error(503),
        Reply.hang(seconds=10),
        Reply.reset(),
        Reply.malformed(),
        Reply.empty(),
    ],
    ids=["500", "503", "timeout", "reset", "malformed", "empty"],
)
async def test_transient_fault_then_success(
    server: ScriptedLLMServer, build: ModelFactory, fault: Reply
) -> None:
    server.set_script([fault, Reply.text("recovered")])
    model = build(timeout_s=0.5)

    [completion] = await model.generate(PROMPT)

    assert completion.text == "recovered"
    assert len(server.requests) >= 2


async def test_rate_limit_waits_at_least_retry_after(server: ScriptedLLMServer, build: ModelFactory) -> None:
    server.set_script([Reply.rate_limited(retry_after=1), Reply.text("after the wait")])
    model = build()  # backoff alone would wait ~10 ms: only Retry-After explains a 1 s gap

    [completion] = await model.generate(PROMPT)

    assert completion.text == "after the wait"
    first, second = server.requests
    assert second.received_at - first.received_at >= 1.0


async def test_persistent_server_error_gives_up_after_all_attempts(
    server: ScriptedLLMServer, build: ModelFactory
) -> None:
    server.set_script(Reply.server_error(500, "the cluster is on fire"))
    model = build(max_retries=2)

    with pytest.raises(ModelError, match="gave up after 3 attempts") as info:
        await model.generate(PROMPT)

    assert not isinstance(info.value, TransientModelError)  # the caller sees a final failure
    assert "the cluster is on fire" in str(info.value)
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "hint"), [(401, "API key"), (403, "access"), (404, "model name"), (400, "")]
)
async def test_client_errors_fail_at_once(
    server: ScriptedLLMServer, build: ModelFactory, status: int, hint: str
) -> None:
    server.set_script(Reply.error(status, "scripted refusal"))
    model = build()

    with pytest.raises(ModelError) as info:
        await model.generate(PROMPT)

    message = str(info.value)
    assert not isinstance(info.value, TransientModelError)
    assert f"HTTP {status}" in message and "scripted refusal" in message and hint in message
    assert "\n" not in message
    assert len(server.requests) == 1


async def test_concurrency_limit_is_respected(server: ScriptedLLMServer, build: ModelFactory) -> None:
    server.set_script(Reply.text("slow").after(0.4))
    model = build(max_concurrency=3)

    completions = await model.generate(PROMPT, n=9)

    assert len(completions) == 9
    assert server.max_in_flight == 3
