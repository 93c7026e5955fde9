"""`RunConfig`: everything that defines a run, loadable from YAML/TOML and overridable by CLI flags.

The whole config is stored with the run, so `assay resume` rebuilds exactly the same search: the same search
settings, budget, sandbox and the module that registered the task. One vocabulary throughout: a flag
`--x-y` is the key `x_y`, and a budget flag is the key of that name under `budget` (or at the top level of
a file): `--iterations` <-> `budget.iterations`, `--cost-usd` <-> `budget.cost_usd`.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from agent.kernel.errors import ConfigError
from agent.kernel.types import LEGACY_BUDGET_KEYS, Budget, upgrade_budget_keys
from agent.search.executors.config import DEFAULT_EXECUTOR, ExecutorConfig
from agent.search.settings import SearchSettings
from sandboxes.config import SandboxConfig

DEFAULT_DB = Path(os.environ.get("ASSAY_DB", ".assay/runs.db"))

#: budget keys a file may also give at its top level, under the flag's own name (or an earlier release's)
_BUDGET_KEYS = frozenset(Budget.model_fields) | frozenset(LEGACY_BUDGET_KEYS)


class RunConfig(SearchSettings):
    """A run: what to search (task, problems), with what (model, strategy), how (the inherited search
    settings), how long (budget) and where candidate code runs (sandbox)."""

    task: str
    #: the module that registered `task`; filled by `prepare`, so a plugin task resumes without its env var
    task_module: str | None = None
    problems: str | None = None  # None: the suite's documented default
    model: str | None = None  # None: the installed local default model; `a,b=2`: an ensemble
    #: how an ensemble's requests are split: by its weights, or by Thompson sampling on how often a
    #: member's answers improved the best score (per call, or per dollar: `thompson-cost`)
    model_split: Literal["weights", "thompson", "thompson-cost"] = "weights"
    base_url: str | None = None
    strategy: str = "refine"
    budget: Budget = Budget()
    #: None: Docker, probed by `prepare` for tasks that run candidate code; "process" must be chosen
    sandbox: SandboxConfig | None = None
    #: where verifications run: this process (`local`) or a Ray cluster (`ray`, with its `address`);
    #: recorded with the run, so a resume verifies where the run did (agent/search/executors)
    executor: ExecutorConfig = DEFAULT_EXECUTOR
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    model_concurrency: int = Field(default=8, ge=1)
    #: ask for a prompt's samples in one request (`n`) where the provider takes it (openai/); the pipelined
    #: loop asks a prompt's samples together, so one request carries `n` = samples (agent/models/base.py)
    n_per_request: bool = False
    #: keep retrying a request's transient failures (429s, 5xx, resets) until this many seconds have passed
    #: since its first failure, even past `max_retries`: an outage of that long is waited out; 0: off
    retry_window_s: float = Field(default=0.0, ge=0, le=86_400)
    #: a starting program (its text, so a resumed run needs no file) that replaces the task's own seeds:
    #: it is verified first and shown to the model as the parent to improve
    seed_program: str | None = Field(default=None, min_length=1)
    #: the model's price in USD per million prompt / completion tokens, for a model litellm's table does
    #: not price (a cost limit on an unpriced model is refused without it) or prices wrongly
    price_in: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    price_out: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: where `completion_tokens` came from, filled by `prepare`: the user ("config": a flag or the file), the
    #: task's own cap (`Task.completion_tokens`), or the default; recorded, so a resume keeps the same cap
    completion_tokens_from: Literal["config", "task", "default"] | None = None

    @field_validator("temperature", "request_timeout_s", "retry_window_s", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        """NaN passes no comparison, so without this `--temperature nan` is refused as if it were > 2."""
        return _refuse_non_finite(value)

    @field_validator("budget", mode="before")
    @classmethod
    def _finite_budget(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, limit in value.items():
                try:
                    _refuse_non_finite(limit)
                except ValueError as e:
                    raise ValueError(f"{key}: {e}") from None
        return value

    @field_validator("problems")
    @classmethod
    def _problems_given(cls, value: str | None) -> str | None:
        """`--problems ""` is a mistake (an empty shell variable), never a request for the default."""
        if value is not None and not value.strip():
            raise ValueError("is empty: give 3, 0-9, 0,2,5-7 or all (or leave it out for the default)")
        return value

    @model_validator(mode="after")
    def _price_in_pairs(self) -> RunConfig:
        if (self.price_in is None) != (self.price_out is None):
            raise ValueError("price_in and price_out (--price-in, --price-out) go together")
        return self

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        return normalise(data) if isinstance(data, dict) else data

    @field_validator("sandbox", mode="before")
    @classmethod
    def _sandbox_by_name(cls, value: Any) -> Any:
        """`sandbox: process` (or `--sandbox process`) names a sandbox with its default settings."""
        return {"type": value} if isinstance(value, str) else value

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_by_name(cls, value: Any) -> Any:
        """`executor: ray` (or `--executor ray`) names an executor with its default settings."""
        return {"type": value} if isinstance(value, str) else value


def _refuse_non_finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    if isinstance(value, str) and value.strip().lower() in {"nan", "inf", "+inf", "-inf", "infinity"}:
        raise ValueError(f"must be a finite number, not {value}")
    return value


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Budget keys at the top level move under `budget`, and earlier releases' names become today's.

    The same limit given twice (top level and `budget`, or an old and a new name) is an error, never a
    silent choice between two numbers.
    """
    out = dict(values)
    top = {k: out.pop(k) for k in list(out) if k in _BUDGET_KEYS}
    budget = out.get("budget")
    if isinstance(budget, Budget):
        if not top:
            return out
        budget = budget.model_dump(exclude_unset=True)
    budget = {} if budget is None else budget
    if not isinstance(budget, dict):
        raise ValueError("budget: must be a mapping of limits, e.g. {iterations: 6, target: 1}")
    try:
        budget, top = upgrade_budget_keys(budget), upgrade_budget_keys(top)
    except ValueError as e:
        raise ValueError(f"budget: {e}") from None
    for key, value in top.items():
        if key in budget and budget[key] != value:
            raise ValueError(f"budget: {key} is given both at the top level and under budget")
        budget[key] = value
    out["budget"] = budget
    return out


def describe_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"invalid config: {where}: {first['msg'].removeprefix('Value error, ')}{more}"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML config file into a dict (validated later, merged with flags)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"cannot parse config {path}: {first_line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of settings, not {type(data).__name__}")
    return data


def build_config(file_values: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """Merge file values with explicitly given flags: flags win, budget keys merge one by one, and a flag
    naming the file's sandbox type keeps the file's settings for it."""
    try:
        merged = normalise(file_values)
    except ValueError as e:
        raise ConfigError(f"invalid config: {e}") from None
    budget = dict(merged["budget"])
    for key, value in overrides.items():
        if value is None:
            continue
        if key in Budget.model_fields:
            budget[key] = value
        elif key == "sandbox" and _same_sandbox_type(merged.get("sandbox"), value):
            continue
        elif key == "executor" and _same_executor_type(merged.get("executor"), value):
            merged[key] = {**merged[key], **value}  # --ray-address keeps the file's other Ray settings
        else:
            merged[key] = value
    merged["budget"] = budget
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(e)) from None


def executor_flags(executor: str | None, ray_address: str | None) -> dict[str, Any] | None:
    """`--executor local|ray` and `--ray-address ADDR` as the `executor` key; an address implies Ray."""
    if ray_address is not None and executor not in (None, "ray"):
        raise ConfigError(f"--ray-address is the Ray executor's: it cannot go with --executor {executor}")
    if executor is None and ray_address is None:
        return None
    chosen: dict[str, Any] = {"type": executor or "ray"}
    if ray_address is not None:
        chosen["address"] = ray_address
    return chosen


def _same_executor_type(from_file: Any, flag: Any) -> bool:
    same = isinstance(from_file, dict) and isinstance(flag, dict)
    return same and from_file.get("type") == flag.get("type")


def _same_sandbox_type(from_file: Any, flag: Any) -> bool:
    return isinstance(from_file, dict) and isinstance(flag, str) and from_file.get("type") == flag
