"""Turning an API failure into the right typed error, the same way for every adapter.

Only two outcomes matter to the retry loop in `ApiModel`: worth retrying (`TransientModelError`, optionally
with the server's own Retry-After) or not (`ModelError`). The SDKs differ in exception classes but all expose
the status code and response headers, so the decision itself lives here once.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from agent.kernel.errors import MissingCredentialsError, ModelError, TransientModelError
from agent.kernel.types import Usage

#: statuses a retry can fix: request timeout, conflict/lock, rate limits, and the server's own failures.
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})

#: The key handed to local OpenAI-compatible servers, which need one syntactically but check none.
LOCAL_DUMMY_KEY = "sk-local-no-key-needed"


def is_transient_status(status: int) -> bool:
    return status in _TRANSIENT_STATUSES or status >= 500


def is_local_url(url: str | None) -> bool:
    """True for a server on this machine, which needs no API key (llama.cpp, vLLM, the test server)."""
    if not url:
        return False
    host = urlparse(url if "//" in url else f"//{url}").hostname or ""
    return host in _LOCAL_HOSTS or host.startswith("127.")


def resolve_api_key(settings_key: str | None, env_var: str, base_url: str | None, spec: str) -> str:
    """The API key to use; a local server gets a placeholder, anything else without a key is an error."""
    key = settings_key or os.environ.get(env_var)
    if key:
        return key
    if is_local_url(base_url):
        return LOCAL_DUMMY_KEY
    raise MissingCredentialsError(
        f"{spec} needs an API key: set {env_var} (or point --base-url at a local server, which needs none)"
    )


def one_line(text: object, limit: int = 300) -> str:
    """A single line of at most `limit` characters, so an error never floods the CLI or the store."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(
    model: str, status: int, message: object, headers: Mapping[str, str] | None = None
) -> ModelError:
    """The error for an HTTP error status: transient (with Retry-After) or final, with a one-line message."""
    text = f"{model}: HTTP {status}: {one_line(message)}"
    if is_transient_status(status):
        return TransientModelError(text, retry_after=parse_retry_after(headers))
    hint = {
        401: " (check the API key)",
        403: " (the key lacks access to this model)",
        404: " (check the model name and base URL)",
    }.get(status, "")
    return ModelError(text + hint)


def body_message(body: object, fallback: object) -> str:
    """The human part of an API error body (`{"error": {"message": ...}}` and its variants)."""
    for candidate in (body, body.get("error") if isinstance(body, dict) else None):
        if isinstance(candidate, dict) and isinstance(candidate.get("message"), str):
            return candidate["message"]
    return str(fallback)


def read_chat_completion(name: str, response: Any) -> tuple[str, Usage, str | None]:
    """Text, usage and finish reason of an OpenAI-shaped chat completion (the openai SDK's or litellm's).

    An empty reply is transient: servers under load do return them, and a retry usually gets an answer.
    """
    choices = getattr(response, "choices", None)
    if not choices:
        raise TransientModelError(f"{name}: the response has no choices")
    choice = choices[0]
    text = getattr(getattr(choice, "message", None), "content", None)
    if not text:
        raise TransientModelError(f"{name}: the response's message is empty")
    raw_usage = getattr(response, "usage", None)
    usage = Usage(
        prompt_tokens=getattr(raw_usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(raw_usage, "completion_tokens", 0) or 0,
    )
    return text, usage, getattr(choice, "finish_reason", None)


def read_chat_choices(name: str, response: Any) -> list[tuple[str, Usage, str | None]]:
    """Every choice of an OpenAI-shaped completion asked with `n`: text, its share of the usage (the
    response's counts split evenly, the remainder to the first, so the choices' sum is the response's) and
    finish reason. An empty choice is transient, as in `read_chat_completion`."""
    choices = _field(response, "choices")
    if not choices or not isinstance(choices, list):
        raise TransientModelError(f"{name}: the response has no choices")
    raw_usage = _field(response, "usage")
    prompt = _count(_field(raw_usage, "prompt_tokens"))
    completion = _count(_field(raw_usage, "completion_tokens"))
    out: list[tuple[str, Usage, str | None]] = []
    for i, choice in enumerate(choices):
        text = _field(_field(choice, "message"), "content")
        if not text or not isinstance(text, str):
            raise TransientModelError(f"{name}: choice {i} of the response is empty")
        share = Usage(
            prompt_tokens=prompt // len(choices) + (prompt % len(choices) if i == 0 else 0),
            completion_tokens=completion // len(choices) + (completion % len(choices) if i == 0 else 0),
        )
        finish = _field(choice, "finish_reason")
        out.append((text, share, finish if isinstance(finish, str) else None))
    return out


def _field(value: Any, name: str) -> Any:
    """A field of an SDK model or of the plain JSON dict it would be built from (a server's JSON is
    untrusted: a missing or mistyped field reads as None)."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def failure_reason(error: BaseException) -> str:
    """One line saying why a request failed. A reset connection raises exceptions without a message all
    the way down (httpx's `ReadError('')` over httpcore's), so the first message in the chain is used, and
    where there is none the exception's name and what it means: never an empty reason."""
    seen: set[int] = set()
    current: BaseException | None = error
    names: list[str] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = one_line(current)
        if text and text not in _GENERIC_MESSAGES:
            return text
        names.append(type(current).__name__)
        current = current.__cause__ or current.__context__
    innermost = names[-1] if names else type(error).__name__
    return f"{innermost}: the server closed or reset the connection without a response"


#: what the SDKs say for every connection failure; the cause says more
_GENERIC_MESSAGES = frozenset({"Connection error.", "Request timed out."})
