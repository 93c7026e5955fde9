"""Core value types shared by every part of assay.

They are pydantic models so that they serialise losslessly into the run store and the `--json` output, and
frozen so that a hypothesis or verdict cannot change after it has been recorded.
"""

from __future__ import annotations

import hashlib
import math
import threading
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(Frozen):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Completion(Frozen):
    """One sampled answer of a model, with what it cost."""

    text: str
    model: str
    usage: Usage = Usage()
    cost_usd: float | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0


def content_id(content: str) -> str:
    """The id of a hypothesis: a hash of its content, so equal candidates share one verdict cache entry."""
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Hypothesis(Frozen):
    id: str
    content: str
    parent_ids: tuple[str, ...] = ()
    iteration: int = 0
    model: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def create(cls, content: str, **kwargs: Any) -> Hypothesis:
        return cls(id=content_id(content), content=content, **kwargs)


class VerdictStatus(StrEnum):
    OK = "ok"  # verified and passed
    FAIL = "fail"  # verified and did not (fully) pass; may carry a partial score
    INVALID = "invalid"  # could not be parsed or is not a well-formed candidate
    TIMEOUT = "timeout"  # the candidate ran past its wall-clock limit
    ERROR = "error"  # the candidate crashed, ran out of memory, or broke the rules


#: statuses that can never carry a score: a crash or a timeout is never evidence of quality.
UNSCORED = frozenset({VerdictStatus.INVALID, VerdictStatus.TIMEOUT, VerdictStatus.ERROR})


#: Bounds of what a verdict may hold. A verdict's fields are filled from what a candidate printed or
#: computed (a stderr tail, a metric it reported), so whatever a verifier passes on is bounded here, once,
#: before it reaches the store, a prompt or `assay show`: a longer text keeps its head and tail, extra
#: entries are dropped, and each change is said in the `NOTES_KEY` artifact.
MAX_FEEDBACK_CHARS = 64_000
MAX_ARTIFACT_CHARS = 64_000
MAX_ARTIFACTS = 64
MAX_METRICS = 256
MAX_KEY_CHARS = 200
MAX_NOTES = 16
#: the artifact in which the bounds say what they changed (a name no verifier uses)
NOTES_KEY = "assay:notes"
_NUMERIC_TEXT_CHARS = 64


def clip_text(text: str, limit: int) -> str:
    """`text` as valid UTF-8 (a lone surrogate, which SQLite and JSON refuse, becomes U+FFFD), cut to its
    head and tail when longer than `limit`."""
    if not text.isascii():  # an O(1) flag check: ASCII text holds no surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if len(text) <= limit:
        return text
    marker = f"\n... [{len(text) - limit} characters cut] ...\n"
    half = max(0, (limit - len(marker)) // 2)
    return f"{text[:half]}{marker}{text[len(text) - half :]}"


def _metric_value(value: Any) -> tuple[float | None, str | None]:
    """A metric as a float (non-finite kept: NaN and infinities are recorded faithfully), or None and why it
    was dropped. An int beyond float range reads as an infinity, as `float("1e400")` does."""
    if isinstance(value, bool):
        return float(value), None
    if isinstance(value, float):
        return value, None
    if isinstance(value, int):
        try:
            return float(value), None
        except OverflowError:
            return (
                math.inf if value > 0 else -math.inf
            ), "an integer beyond float range, recorded as infinite"
    if value is None:  # what earlier releases stored for NaN and the infinities
        return math.nan, "null, recorded as NaN (earlier releases stored NaN and infinities as null)"
    if isinstance(value, str) and len(value) <= _NUMERIC_TEXT_CHARS:
        try:
            return float(value), None
        except ValueError:
            pass
    return None, f"not a number ({type(value).__name__}), dropped"


def _bounded_metrics(metrics: Any, notes: list[str]) -> Any:
    if not isinstance(metrics, dict):
        return metrics  # not a mapping at all: refused by the field's own validation
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            notes.append(f"metric key of type {type(key).__name__} dropped")
            continue
        name = clip_text(key, MAX_KEY_CHARS)
        if len(out) >= MAX_METRICS:
            notes.append(f"metrics beyond the first {MAX_METRICS} dropped")
            break
        number, why = _metric_value(value)
        if why is not None:
            notes.append(f"metric {name!r}: {why}")
        if number is not None:
            out[name] = number
    return out


def _bounded_artifacts(artifacts: Any, notes: list[str]) -> Any:
    if not isinstance(artifacts, dict):
        return artifacts
    earlier = artifacts.get(NOTES_KEY)
    out: dict[str, str] = {}
    for key, value in artifacts.items():
        if key == NOTES_KEY:
            continue
        if not isinstance(key, str) or not isinstance(value, str):
            notes.append(f"artifact {clip_text(str(key), MAX_KEY_CHARS)!r}: not text, dropped")
            continue
        if len(out) >= MAX_ARTIFACTS - 1:
            notes.append(f"artifacts beyond the first {MAX_ARTIFACTS - 1} dropped")
            break
        name = clip_text(key, MAX_KEY_CHARS)
        if len(value) > MAX_ARTIFACT_CHARS:
            notes.append(f"artifact {name!r}: {len(value)} characters, cut to {MAX_ARTIFACT_CHARS}")
        out[name] = clip_text(value, MAX_ARTIFACT_CHARS)
    lines = earlier.splitlines() if isinstance(earlier, str) else []
    lines += list(dict.fromkeys(notes))
    if lines:
        out[NOTES_KEY] = clip_text("\n".join(lines[:MAX_NOTES]), MAX_ARTIFACT_CHARS)
    return out


def bound_verdict_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Bound and clean the raw fields of a verdict before they are validated (see the MAX_ constants).

    Idempotent: a verdict read back from the store is already within bounds and comes out unchanged.
    """
    out = dict(data)
    notes: list[str] = []
    feedback = out.get("feedback")
    if isinstance(feedback, str):
        if len(feedback) > MAX_FEEDBACK_CHARS:
            notes.append(f"feedback: {len(feedback)} characters, cut to {MAX_FEEDBACK_CHARS}")
        out["feedback"] = clip_text(feedback, MAX_FEEDBACK_CHARS)
    if "metrics" in out:
        out["metrics"] = _bounded_metrics(out["metrics"], notes)
    duration = out.get("duration_s")
    if duration is None and "duration_s" in out:
        out["duration_s"] = 0.0  # an earlier release stored a non-finite duration as null
    elif isinstance(duration, int | float) and not (math.isfinite(duration) and duration >= 0):
        notes.append(f"duration_s: {duration!r} is not a duration, recorded as 0")
        out["duration_s"] = 0.0
    if "artifacts" in out or notes:
        out["artifacts"] = _bounded_artifacts(out.get("artifacts", {}), notes)
    return out


class Verdict(Frozen):
    """What a verifier says of one hypothesis.

    Invariants (every construction, including a read back from the store): the score is finite or None; a
    crash, timeout or invalid candidate carries no score; feedback, metrics and artifacts are bounded
    (`bound_verdict_fields`). Metrics may be NaN or infinite (a candidate can make a measurement so) and are
    kept as such: their JSON is the strings "NaN", "Infinity" and "-Infinity", which read back as floats.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    status: VerdictStatus
    score: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    feedback: str = ""
    artifacts: dict[str, str] = Field(default_factory=dict)
    duration_s: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        return bound_verdict_fields(data) if isinstance(data, dict) else data

    @field_validator("score")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("a verdict's score must be finite or None")
        return v

    @model_validator(mode="after")
    def _unscored_failures(self) -> Verdict:
        if self.status in UNSCORED and self.score is not None:
            raise ValueError(f"a verdict with status {self.status.value!r} cannot carry a score")
        _remember_validated(self)  # the last check: this instance passed every one
        return self

    def timed(self, duration_s: float) -> Verdict:
        """This verdict with the duration the trusted side measured (finite, >= 0); a validated verdict
        stays known as validated, so it is not checked again (`revalidated_verdict`)."""
        if not (math.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"duration_s must be a finite duration, not {duration_s!r}")
        copy = self.model_copy(update={"duration_s": float(duration_s)})
        if is_validated(self):
            with _VALIDATED_LOCK:  # the copy takes its place: the table holds what is in flight
                _VALIDATED.pop(id(self), None)
            _remember_validated(copy)
        return copy

    @property
    def passed(self) -> bool:
        return self.status is VerdictStatus.OK

    @property
    def notes(self) -> tuple[str, ...]:
        """What the bounds changed in this verdict, one line each."""
        return tuple(self.artifacts.get(NOTES_KEY, "").splitlines())


#: the Verdict instances that most recently passed validation (a constructor call, `model_validate`, a read
#: from the store), by id, oldest first. Frozen, such a verdict stays valid, and checking it again on every
#: copy and write (the loop, the verdict cache, the store: ~9 validations a hypothesis) was most of the
#: framework's cost per hypothesis (issue 16). A verdict goes from being made to being stored within far
#: fewer than `_MAX_VALIDATED` others, so the table is bounded (memory stays flat over a long run): one that
#: has left it is only validated again. Holding the verdict (not a weak reference) keeps its id from being
#: reused while it is listed. Never in it: whatever skipped validation (`model_construct`,
#: `model_copy(update=...)`, a verdict unpickled from a Ray worker, a subclass).
#: Verifiers make verdicts on executor threads while the loop reads the table: one lock keeps the eviction
#: (`next(iter(...))` then `del`) from racing another thread's insert or eviction.
_VALIDATED: dict[int, Verdict] = {}
_MAX_VALIDATED = 1024
_VALIDATED_LOCK = threading.Lock()


def _remember_validated(verdict: Verdict) -> None:
    with _VALIDATED_LOCK:
        while len(_VALIDATED) >= _MAX_VALIDATED:
            del _VALIDATED[next(iter(_VALIDATED))]
        _VALIDATED[id(verdict)] = verdict


def is_validated(value: object) -> bool:
    """Whether `value` is a Verdict instance that passed validation itself (see `_VALIDATED`)."""
    return type(value) is Verdict and _VALIDATED.get(id(value)) is value


def revalidated_verdict(value: object) -> Verdict:
    """`value` as a validated Verdict; raises ValidationError (title "Verdict") or TypeError.

    A verifier's result is checked because a Verdict can be made without validation (`model_construct`,
    `model_copy(update=...)`, unpickling): a NaN score or a megabyte of feedback set that way must not reach
    the store either. A verdict that passed validation itself is returned as it is: its bounds were checked
    once, where it was made, and a frozen verdict cannot have changed since.
    """
    if not isinstance(value, Verdict):
        raise TypeError(f"a verifier returned {type(value).__name__}, not a Verdict")
    if is_validated(value):
        return value
    return Verdict.model_validate({name: getattr(value, name, None) for name in Verdict.model_fields})


def jsonable(value: Any) -> Any:
    """`value` with every non-finite float spelled as Verdict JSON spells it ("NaN", "Infinity",
    "-Infinity"), so `json.dumps(..., allow_nan=False)` writes strict JSON that any reader parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class StopReason(StrEnum):
    MAX_ITERATIONS = "max_iterations"
    MAX_CALLS = "max_calls"
    MAX_TOKENS = "max_tokens"
    MAX_COST = "max_cost"
    MAX_SECONDS = "max_seconds"
    TARGET_REACHED = "target_reached"
    CONVERGED = "converged"
    MODEL_ERROR = "model_error"
    INTERRUPTED = "interrupted"
    #: the same infrastructure failure repeated for `infra_breaker` verifications in a row: the search is
    #: left unfinished (resumable) instead of paying for answers nothing can judge
    INFRASTRUCTURE = "infrastructure"


#: budget keys of earlier releases (config files, and configs stored by earlier runs) -> today's names
LEGACY_BUDGET_KEYS = {
    "max_iterations": "iterations",
    "max_calls": "calls",
    "max_tokens": "tokens",
    "max_cost_usd": "cost_usd",
    "max_seconds": "minutes",
    "target_score": "target",
}


def upgrade_budget_keys(values: dict[str, Any]) -> dict[str, Any]:
    """Rename earlier releases' budget keys (`max_seconds` becomes `minutes`); naming one limit twice is an
    error rather than a silent choice between two numbers."""
    upgraded = dict(values)
    for old, new in LEGACY_BUDGET_KEYS.items():
        if old not in upgraded:
            continue
        value = upgraded.pop(old)
        if new in upgraded:
            raise ValueError(f"{old} and {new} name the same limit: keep only {new}")
        if old == "max_seconds" and isinstance(value, int | float) and not isinstance(value, bool):
            value = value / 60
        upgraded[new] = value
    return upgraded


class Budget(Frozen):
    """Limits of one search, each named like its `assay run` flag (`iterations` <-> `--iterations`).

    `None` means unlimited; iterations are bounded by default. `tokens` is the whole search's token budget
    (prompt and completion, summed over calls); the per-completion limit is the run's `completion_tokens`.
    """

    iterations: int | None = Field(default=5, ge=1)
    calls: int | None = Field(default=None, ge=1)
    tokens: int | None = Field(default=None, ge=1)
    cost_usd: float | None = Field(default=None, gt=0)
    minutes: float | None = Field(default=None, gt=0)  # wall clock
    target: float | None = None  # stop when the best score reaches it
    patience: int | None = Field(default=None, ge=1)
    min_delta: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        """Configs written before the rename (files, and runs stored by earlier releases) still load."""
        return upgrade_budget_keys(data) if isinstance(data, dict) else data

    @property
    def seconds(self) -> float | None:
        """The wall-clock limit in seconds, as the clock measures it."""
        return None if self.minutes is None else self.minutes * 60


def score_key(score: float | None) -> float:
    """Sort key that ranks a missing score below every real one."""
    return -math.inf if score is None else score
