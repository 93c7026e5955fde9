"""The scripted server itself: scripts, records and concurrency, spoken to over plain HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import httpx
import pytest

from tests.support import RecordedRequest, Reply, ScriptedLLMServer, by_prompt, sequence


def _chat(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _answer(payload: dict[str, Any]) -> str:
    return payload["choices"][0]["message"]["content"]


def test_by_prompt_picks_by_substring_and_falls_back() -> None:
    script = by_prompt([("sky", "blue"), ("grass", ["green", "greener"])], default="unsure")
    with ScriptedLLMServer(script) as server:
        url = f"{server.openai_base_url}/chat/completions"
        answers = [
            _answer(_post(url, _chat(q))[1]) for q in ("the sky?", "grass?", "grass?", "grass?", "mud?")
        ]
    assert answers == ["blue", "green", "greener", "greener", "unsure"]


def test_unmatched_prompt_without_default_is_a_clear_400() -> None:
    with ScriptedLLMServer(by_prompt([("sky", "blue")])) as server:
        status, payload = _post(f"{server.openai_base_url}/chat/completions", _chat("mud?"))
    assert status == 400
    assert "no scripted reply matches" in payload["error"]["message"]


def test_sequence_then_and_list_scripts() -> None:
    with ScriptedLLMServer(sequence("a", "b", then="z")) as server:
        url = f"{server.openai_base_url}/chat/completions"
        assert [_answer(_post(url, _chat("q"))[1]) for _ in range(4)] == ["a", "b", "z", "z"]
        server.set_script(["x", Reply.text("y")])
        assert [_answer(_post(url, _chat("q"))[1]) for _ in range(3)] == ["x", "y", "y"]


def test_anthropic_format_and_recorded_request() -> None:
    body = {
        "model": "claude-x",
        "system": [{"type": "text", "text": "Be kind."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "max_tokens": 10,
    }
    with ScriptedLLMServer(Reply.text("hi there", finish_reason="length")) as server:
        status, payload = _post(f"{server.anthropic_base_url}/v1/messages", body)
        [recorded] = server.requests
    assert status == 200
    assert payload["content"] == [{"type": "text", "text": "hi there"}]
    assert payload["stop_reason"] == "max_tokens"
    assert payload["usage"] == {"input_tokens": 3, "output_tokens": 2}  # word counts of prompt and answer
    assert recorded.api == "anthropic" and recorded.model == "claude-x"
    assert recorded.messages == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hello"},
    ]
    assert recorded.prompt_text == "Be kind.\nhello"
    assert recorded.last_user_text == "hello"


def test_a_script_that_raises_answers_500_naming_the_error() -> None:
    def broken(_request: RecordedRequest) -> Reply:
        raise KeyError("oops")

    with ScriptedLLMServer(broken) as server:
        status, payload = _post(f"{server.openai_base_url}/chat/completions", _chat("q"))
    assert status == 500
    assert "KeyError" in payload["error"]["message"]


def test_unknown_route_is_404() -> None:
    with ScriptedLLMServer() as server:
        status, _ = _post(f"{server.url}/v1/embeddings", {"input": "x"})
        assert status == 404
        assert server.requests[0].api == "unknown"


async def test_serves_32_requests_at_once() -> None:
    with ScriptedLLMServer(Reply.text("ok").after(0.5)) as server:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            url = f"{server.openai_base_url}/chat/completions"
            responses = await asyncio.gather(*(client.post(url, json=_chat(f"q{i}")) for i in range(32)))
        assert all(r.status_code == 200 for r in responses)
        assert server.max_in_flight == 32
        assert sorted(r.index for r in server.requests) == list(range(32))


def test_stop_releases_a_hanging_reply() -> None:
    server = ScriptedLLMServer(Reply.hang(seconds=60)).start()
    request = urllib.request.Request(
        f"{server.openai_base_url}/chat/completions", json.dumps(_chat("q")).encode(), method="POST"
    )
    with pytest.raises((urllib.error.URLError, TimeoutError, ConnectionError)):
        urllib.request.urlopen(request, timeout=0.3)
    assert server.in_flight == 1  # the client gave up; the server is still "thinking"
    server.stop()
    for _ in range(50):  # the hang is released by stop(), not after its 60 s
        if server.in_flight == 0:
            break
        time.sleep(0.1)
    assert server.in_flight == 0
    assert len(server.requests) == 1
