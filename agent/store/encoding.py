"""What the run store writes, checked and encoded: parameters SQLite can bind, strict JSON, verdicts.

Apart from `agent.store.sqlite` so that module stays one reader's length; these run for each of a
hypothesis's four writes, so the common case (ASCII text, finite numbers) takes the shortest path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from agent.kernel.errors import StoreError
from agent.kernel.types import Verdict, clip_text, jsonable, revalidated_verdict
from agent.store.records import first_error


def clean(value: Any) -> Any:
    """A parameter SQLite can bind: text with a lone surrogate (a model's reply can hold one) is repaired."""
    return clip_text(value, len(value)) if isinstance(value, str) else value


def bindable(params: Iterable[Any]) -> list[Any]:
    """`clean` of each parameter, called only where it can change something: ASCII text (an O(1) flag) and
    numbers are bound as they are (issue 16: a call per parameter was a measurable share of a write)."""
    return [clean(p) if isinstance(p, str) and not p.isascii() else p for p in params]


def strict_json(value: Any) -> str:
    """`value` as strict JSON (non-finite floats spelled as strings), so any reader can parse it back."""
    try:
        return json.dumps(value, default=str, allow_nan=False)  # the usual case: nothing non-finite in it
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        return json.dumps(jsonable(value), default=str, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as e:
        raise StoreError(f"cannot encode a value for the run store: {type(e).__name__}: {e}") from None


def verdict_json(verdict: Verdict) -> str:
    """The verdict, validated afresh (it may have been made without validation), as strict JSON."""
    try:
        return revalidated_verdict(verdict).model_dump_json()
    except ValidationError as e:
        raise StoreError(f"refusing to store an invalid verdict: {first_error(e)}") from None
