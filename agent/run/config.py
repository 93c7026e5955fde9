"""`RunConfig`: everything that defines a run, loadable from YAML/TOML and overridable by CLI flags.

The whole config is stored with the run, so `assay resume` rebuilds exactly the same search.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.kernel.errors import ConfigError
from agent.kernel.types import Budget

DEFAULT_DB = Path(os.environ.get("ASSAY_DB", ".assay/runs.db"))


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    problems: str | None = None  # None: the suite's documented default
    model: str | None = None  # None: the installed local default model
    base_url: str | None = None
    strategy: str = "refine"
    samples: int = Field(default=4, ge=1, le=256)
    top_k: int = Field(default=1, ge=1, le=32)  # parents (with feedback) shown in each prompt
    temperature: float = Field(default=0.8, ge=0, le=2)
    completion_tokens: int = Field(default=1024, ge=16)  # per completion; the budget has max_tokens
    seed: int = 0
    budget: Budget = Budget()
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    model_concurrency: int = Field(default=8, ge=1)
    verify_concurrency: int = Field(default=4, ge=1)
    verify_retries: int = Field(default=2, ge=0)  # retries of infrastructure failures (never of candidates)


def describe_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"invalid config: {where}: {first['msg']}{more}"


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
    """Merge file values with explicitly given flags (flags win; budget keys merge one by one)."""
    merged = dict(file_values)
    budget = dict(merged.get("budget") or {})
    for key, value in overrides.items():
        if value is None:
            continue
        if key in Budget.model_fields:
            budget[key] = value
        else:
            merged[key] = value
    merged["budget"] = budget
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(e)) from None
