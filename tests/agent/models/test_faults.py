"""The shared rules that classify API failures and read what the server asks of us."""

from __future__ import annotations

import email.utils
import time

import pytest

from agent.kernel.errors import ModelError, TransientModelError
from agent.models.base import ModelSettings, backoff_delay
from agent.models.faults import is_local_url, parse_retry_after, status_error


def test_retry_after_in_seconds_milliseconds_and_as_a_date() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= (parse_retry_after({"Retry-After": in_ten}) or 0) <= 10.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retryable_statuses_are_transient(status: int) -> None:
    error = status_error("m", status, "busy", {"Retry-After": "2"})
    assert isinstance(error, TransientModelError)
    assert error.retry_after == 2.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_final_and_one_line(status: int) -> None:
    error = status_error("openai/m", status, "bad\nrequest   body")
    assert type(error) is ModelError
    assert str(error).startswith(f"openai/m: HTTP {status}: bad request body")
    assert "\n" not in str(error)


def test_backoff_honours_retry_after_up_to_the_ceiling() -> None:
    settings = ModelSettings(backoff_base_s=0.01, backoff_max_s=5.0)
    assert backoff_delay(0, settings, None) <= 0.01
    assert backoff_delay(0, settings, 2.0) == 2.0
    assert backoff_delay(0, settings, 60.0) == 5.0


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://localhost.example.com/v1", False),
        (None, False),
    ],
)
def test_local_urls(url: str | None, local: bool) -> None:
    assert is_local_url(url) is local
