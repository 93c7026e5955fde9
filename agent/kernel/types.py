"""Core value types shared by every part of assay.

They are pydantic models so that they serialise losslessly into the run store and the `--json` output, and
frozen so that a hypothesis or verdict cannot change after it has been recorded.
"""

from __future__ import annotations

import hashlib
import math
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


class Verdict(Frozen):
    status: VerdictStatus
    score: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    feedback: str = ""
    artifacts: dict[str, str] = Field(default_factory=dict)
    duration_s: float = 0.0

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
        return self

    @property
    def passed(self) -> bool:
        return self.status is VerdictStatus.OK


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
