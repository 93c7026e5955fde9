"""A scripted LLM API server on 127.0.0.1 that speaks the OpenAI and Anthropic wire formats.

Tests drive the real SDKs (and the `assay` CLI in a subprocess) against it, so what is exercised is the same
HTTP, JSON and error handling that production traffic goes through; only the answers are scripted. A script
says, per request, what the "model" does: answer with text, answer late, or fail in one of the ways real
APIs fail (429 with Retry-After, 5xx, hanging, resetting the connection, malformed or empty bodies).

    with ScriptedLLMServer([Reply.rate_limited(retry_after=1), Reply.text("42")]) as server:
        model = make_model("openai/gpt-test", ModelSettings(base_url=server.openai_base_url))
        ...
        assert len(server.requests) == 2

    script = by_prompt([("factorial", "def f(n): ..."), ("prime", Reply.server_error())], default="pass")

A script is a `Reply` (every request gets it), a `str` (shorthand for `Reply.text`), a list of replies
(consumed in order, the last one repeating), or any callable `RecordedRequest -> Reply | str`. The callable
is invoked under the server's lock, so a stateful script needs no locking of its own; the reply's latency
and faults are acted out outside the lock, so slow replies still overlap.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class Kind(StrEnum):
    TEXT = "text"
    STATUS = "status"  # an HTTP error status with a JSON error body
    HANG = "hang"  # never answer (until `seconds` pass or the server stops), then drop the connection
    RESET = "reset"  # close the socket with a TCP reset, without a response
    MALFORMED = "malformed"  # 200 with a body that is not valid JSON
    EMPTY = "empty"  # 200 with valid JSON but no choices (OpenAI) / no content blocks (Anthropic)


@dataclass(frozen=True)
class Reply:
    """What the server does with one request. Build with the class methods; `.after(s)` adds latency."""

    kind: Kind = Kind.TEXT
    content: str = ""  # the answer's text
    prompt_tokens: int | None = None  # None: count the prompt's words
    completion_tokens: int | None = None  # None: count the content's words
    finish_reason: str = "stop"  # OpenAI's vocabulary; mapped to Anthropic's stop_reason
    status: int = 200
    message: str = ""
    retry_after: float | None = None
    latency_s: float = 0.0
    seconds: float = 60.0  # how long a HANG lasts at most
    choices: tuple[str, ...] = ()  # OpenAI `n`: choice i says choices[i % len] (empty: `content`)

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        """A normal answer; `prompt_tokens`, `completion_tokens`, `finish_reason`, `latency_s` may be set."""
        return cls(kind=Kind.TEXT, content=content, **kw)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0, message: str = "rate limited") -> Reply:
        return cls(kind=Kind.STATUS, status=429, retry_after=retry_after, message=message)

    @classmethod
    def server_error(cls, status: int = 500, message: str = "internal server error") -> Reply:
        return cls(kind=Kind.STATUS, status=status, message=message)

    @classmethod
    def error(cls, status: int, message: str = "", retry_after: float | None = None) -> Reply:
        message = message or f"error {status}"
        return cls(kind=Kind.STATUS, status=status, message=message, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float = 60.0) -> Reply:
        return cls(kind=Kind.HANG, seconds=seconds)

    @classmethod
    def reset(cls) -> Reply:
        return cls(kind=Kind.RESET)

    @classmethod
    def malformed(cls) -> Reply:
        return cls(kind=Kind.MALFORMED)

    @classmethod
    def empty(cls) -> Reply:
        return cls(kind=Kind.EMPTY)

    def after(self, latency_s: float) -> Reply:
        """The same reply, delivered `latency_s` seconds late (as a slow model would)."""
        return replace(self, latency_s=latency_s)


ReplyLike = Reply | str
Responder = Callable[["RecordedRequest"], ReplyLike]
Script = Responder | ReplyLike | Sequence[ReplyLike]


def _as_reply(r: ReplyLike) -> Reply:
    return Reply.text(r) if isinstance(r, str) else r


def _content_text(content: Any) -> str:
    """Message content as plain text: SDKs send either a string or a list of typed blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content if b is not None
        )
    return "" if content is None else str(content)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    api: str  # "openai", "anthropic" or "unknown"
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: dict[str, Any]
    received_at: float  # time.monotonic() when the body had been read
    index: int  # 0-based arrival order

    @property
    def model(self) -> str | None:
        return self.body.get("model")

    @property
    def messages(self) -> list[dict[str, str]]:
        """Role/content pairs as text, with Anthropic's `system` parameter as a leading system message."""
        out: list[dict[str, str]] = []
        if "system" in self.body:
            out.append({"role": "system", "content": _content_text(self.body["system"])})
        for m in self.body.get("messages") or []:
            if isinstance(m, dict):
                out.append({"role": str(m.get("role", "")), "content": _content_text(m.get("content"))})
        return out

    @property
    def prompt_text(self) -> str:
        """All message contents joined by newlines: what `by_prompt` matches against."""
        return "\n".join(m["content"] for m in self.messages)

    @property
    def last_user_text(self) -> str:
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""


def sequence(*replies: ReplyLike, then: ReplyLike | None = None) -> Responder:
    """Replies consumed in order; afterwards `then`, or the last reply again when `then` is None."""
    if not replies:
        raise ValueError("sequence() needs at least one reply")
    items = [_as_reply(r) for r in replies]
    tail = _as_reply(then) if then is not None else items[-1]
    it: Iterator[Reply] = itertools.chain(items, itertools.repeat(tail))
    return lambda _request: next(it)


_NO_MATCH = Reply.error(400, "ScriptedLLMServer: no scripted reply matches this prompt")


def by_prompt(
    rules: Sequence[tuple[str, ReplyLike | Sequence[ReplyLike]]],
    default: ReplyLike | Sequence[ReplyLike] = _NO_MATCH,
) -> Responder:
    """Pick the reply by the first rule whose substring occurs in the prompt (system + all messages).

    A rule's value may be a list: each match takes the next reply, the last one repeating. Without a
    `default`, an unmatched prompt gets HTTP 400, which the adapters do not retry, so a script gap fails
    fast with a message saying so instead of looking like a flaky model.
    """

    def responder_of(value: ReplyLike | Sequence[ReplyLike]) -> Responder:
        if isinstance(value, Reply | str):
            reply = _as_reply(value)
            return lambda _request: reply
        return sequence(*value)

    compiled = [(needle, responder_of(value)) for needle, value in rules]
    fallback = responder_of(default)

    def respond(request: RecordedRequest) -> ReplyLike:
        prompt = request.prompt_text
        for needle, responder in compiled:
            if needle in prompt:
                return responder(request)
        return fallback(request)

    return respond


def _compile(script: Script) -> Responder:
    if isinstance(script, Reply | str):
        reply = _as_reply(script)
        return lambda _request: reply
    if callable(script):
        return script
    return sequence(*script)


def _usage(reply: Reply, request: RecordedRequest) -> tuple[int, int]:
    """Token counts: the scripted ones, else word counts (deterministic, and close enough for budgets)."""
    prompt = len(request.prompt_text.split()) if reply.prompt_tokens is None else reply.prompt_tokens
    completion = len(reply.content.split()) if reply.completion_tokens is None else reply.completion_tokens
    return prompt, completion


def _openai_body(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    n = int(request.body.get("n") or 1)
    texts = reply.choices or (reply.content,)
    prompt_tokens, completion_tokens = _usage(reply, request)
    return {
        "id": f"chatcmpl-{request.index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or "scripted",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": texts[i % len(texts)]},
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
            for i in range(n)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens * n,
            "total_tokens": prompt_tokens + completion_tokens * n,
        },
    }


_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens"}


def _anthropic_body(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    prompt_tokens, completion_tokens = _usage(reply, request)
    return {
        "id": f"msg_{request.index}",
        "type": "message",
        "role": "assistant",
        "model": request.model or "scripted",
        "content": [{"type": "text", "text": reply.content}],
        "stop_reason": _ANTHROPIC_STOP.get(reply.finish_reason, reply.finish_reason),
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
    }


def _error_body(api: str, status: int, message: str) -> dict[str, Any]:
    if api == "anthropic":
        kind = {429: "rate_limit_error", 401: "authentication_error", 400: "invalid_request_error"}
        return {"type": "error", "error": {"type": kind.get(status, "api_error"), "message": message}}
    return {"error": {"message": message, "type": "scripted_error", "code": status}}


def _empty_body(api: str, request: RecordedRequest) -> dict[str, Any]:
    if api == "anthropic":
        body = _anthropic_body(Reply.text(""), request)
        body["content"] = []
        return body
    body = _openai_body(Reply.text(""), request)
    body["choices"] = []
    return body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not keep the test process alive
    request_queue_size = 256  # a burst of concurrent connects must not be refused by the listen backlog
    allow_reuse_address = True


class ScriptedLLMServer:
    """A real HTTP server, one thread per connection, answering per its script. Use as a context manager."""

    def __init__(self, script: Script = "ok", *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._responder = _compile(script)
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging replies
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the Anthropic SDK appends /v1/messages itself

    # -- script and records ---------------------------------------------------------------------------
    def set_script(self, script: Script) -> None:
        with self._lock:
            self._responder = _compile(script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests the server was working on at once (from body read to reply sent)."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Requests being worked on right now (a hanging reply counts until it is released)."""
        with self._lock:
            return self._in_flight

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight

    # -- request handling -----------------------------------------------------------------------------
    def _admit(
        self, api: str, path: str, headers: Mapping[str, str], body: dict[str, Any]
    ) -> tuple[RecordedRequest, Reply]:
        with self._lock:
            request = RecordedRequest(
                api=api,
                path=path,
                headers=dict(headers),
                body=body,
                received_at=time.monotonic(),
                index=len(self._requests),
            )
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            try:
                reply = _as_reply(self._responder(request))
            except Exception as e:  # a broken script must show up in the test, not as a hung request
                reply = Reply.error(500, f"ScriptedLLMServer: script raised {type(e).__name__}: {e}")
        return request, reply

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            owner = server

        return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    timeout = 120  # an idle keep-alive connection's thread gives up eventually
    owner: ScriptedLLMServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        # The client may have gone away (it timed out, or we reset it): then there is nothing to answer.
        with contextlib.suppress(OSError):
            super().handle()

    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": f"no GET route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw or b"{}")
            body = parsed if isinstance(parsed, dict) else {"_json": parsed}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        path = self.path.split("?", 1)[0]
        api = (
            "openai"
            if path.endswith("/chat/completions")
            else "anthropic"
            if path.endswith("/messages")
            else "unknown"
        )
        headers = {k.lower(): v for k, v in self.headers.items()}
        request, reply = self.owner._admit(api, path, headers, body)
        try:
            self._act(api, request, reply)
        finally:
            self.owner._release()

    def _act(self, api: str, request: RecordedRequest, reply: Reply) -> None:
        if reply.latency_s > 0 and self.owner._stopping.wait(reply.latency_s):
            return
        if api == "unknown":
            message = f"ScriptedLLMServer: no route for POST {request.path}"
            self._send_json(404, _error_body(api, 404, message))
            return
        match reply.kind:
            case Kind.TEXT:
                build = _anthropic_body if api == "anthropic" else _openai_body
                self._send_json(200, build(reply, request))
            case Kind.STATUS:
                extra = {} if reply.retry_after is None else {"Retry-After": _fmt_seconds(reply.retry_after)}
                self._send_json(reply.status, _error_body(api, reply.status, reply.message), extra)
            case Kind.EMPTY:
                self._send_json(200, _empty_body(api, request))
            case Kind.MALFORMED:
                self._send_raw(200, b'{"id": "broken", "choices": [{"index": 0, "message": {"content": "tru')
            case Kind.HANG:
                self.owner._stopping.wait(reply.seconds)
                self.close_connection = True
            case Kind.RESET:
                self._reset()

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into a RST: the client sees "connection reset".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _fmt_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


__all__ = [
    "Kind",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Script",
    "ScriptedLLMServer",
    "by_prompt",
    "sequence",
]
