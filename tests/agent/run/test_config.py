"""One run config: file and flags merge (flags win), one budget vocabulary (with earlier names still read),
the sandbox as part of the config, and the search settings as the config itself rather than a copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.kernel.errors import ConfigError
from agent.kernel.types import Budget
from agent.run.config import RunConfig, build_config, read_config_file
from agent.search.settings import SearchSettings
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig

#: a config as an earlier release stored it with a run (every budget key under its old name)
STORED_BY_AN_EARLIER_RUN = {
    "task": "example/guess",
    "problems": "0-1",
    "model": "openai/gpt-test",
    "base_url": "http://127.0.0.1:1/v1",
    "strategy": "refine",
    "samples": 2,
    "top_k": 1,
    "temperature": 0.8,
    "completion_tokens": 256,
    "seed": 3,
    "budget": {
        "max_iterations": 5,
        "max_calls": 40,
        "max_tokens": 9000,
        "max_cost_usd": 0.25,
        "max_seconds": 90.0,
        "target_score": 0.0,
        "patience": None,
        "min_delta": 0.0,
    },
    "request_timeout_s": 120.0,
    "max_retries": 4,
    "model_concurrency": 8,
    "verify_concurrency": 4,
    "verify_retries": 2,
}


def test_flags_win_over_the_file_and_budget_keys_merge_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "task: example/guess\nsamples: 2\ntemperature: 0.3\nbudget: {iterations: 2, patience: 3, target: 1}\n"
    )
    config = build_config(
        read_config_file(path), {"samples": None, "top_k": 3, "iterations": 8, "min_delta": 0.5}
    )
    assert (config.samples, config.top_k, config.temperature) == (2, 3, 0.3)  # None: the flag was not given
    assert config.budget == Budget(iterations=8, patience=3, target=1.0, min_delta=0.5)


def test_a_file_may_give_budget_keys_at_the_top_level_under_the_flags_names(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('task = "example/guess"\niterations = 4\ncost_usd = 0.5\n[budget]\npatience = 2\n')
    config = build_config(read_config_file(path), {"cost_usd": 2.0})
    assert config.budget == Budget(iterations=4, cost_usd=2.0, patience=2)


def test_earlier_budget_keys_in_a_file_mean_todays(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "task: example/guess\nbudget: {max_iterations: 6, target_score: 1.0, max_seconds: 90, max_calls: 7}\n"
    )
    config = build_config(read_config_file(path), {"iterations": 9})  # the new flag beats the old key
    assert config.budget == Budget(iterations=9, target=1.0, minutes=1.5, calls=7)
    assert config.budget.seconds == 90


def test_a_config_stored_by_an_earlier_run_still_loads_and_is_written_back_in_todays_words() -> None:
    config = RunConfig.model_validate_json(json.dumps(STORED_BY_AN_EARLIER_RUN))
    assert config.budget == Budget(
        iterations=5, calls=40, tokens=9000, cost_usd=0.25, minutes=1.5, target=0.0
    )
    assert config.sandbox is None and config.task_module is None  # resolved again by `prepare`
    stored = json.loads(config.model_dump_json())
    assert set(stored["budget"]) == {
        "iterations", "calls", "tokens", "cost_usd", "minutes", "target", "patience", "min_delta"
    }  # fmt: skip
    assert RunConfig.model_validate(stored) == config


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"budget": {"max_iterations": 2, "iterations": 3}}, "max_iterations and iterations"),
        ({"iterations": 2, "budget": {"iterations": 3}}, "iterations is given both"),
        ({"target_score": 1.0, "budget": {"target": 0.5}}, "target is given both"),
        ({"budget": "six iterations"}, "budget: must be a mapping"),
        ({"budget": {"iterations": 0}}, "budget.iterations"),
        ({"samples": 0}, "samples"),
        ({"sandbox": "vm"}, "sandbox"),
        ({"max_seconds": -5}, "budget.minutes"),
    ],
)
def test_bad_or_ambiguous_values_are_one_line_config_errors(values: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config({"task": "example/guess", **values}, {})
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_the_sandbox_is_named_or_configured_and_a_flag_of_the_same_type_keeps_the_files_settings() -> None:
    from_file = {"task": "code/humaneval", "sandbox": {"type": "docker", "pool_size": 3}}
    assert build_config(from_file, {}).sandbox == DockerSandboxConfig(pool_size=3)
    assert build_config(from_file, {"sandbox": "docker"}).sandbox == DockerSandboxConfig(pool_size=3)
    assert build_config(from_file, {"sandbox": "process"}).sandbox == ProcessSandboxConfig()
    assert build_config({"task": "t", "sandbox": "process"}, {}).sandbox == ProcessSandboxConfig()
    assert build_config({"task": "t"}, {}).sandbox is None  # Docker, resolved by `prepare`


def test_the_run_config_is_its_search_settings() -> None:
    config = build_config({"task": "example/guess", "samples": 3, "completion_tokens": 64, "seed": 2}, {})
    assert isinstance(config, SearchSettings)  # the runner hands it to the loop as it is
    assert config.sample_seed(1, 2) == SearchSettings(seed=2).sample_seed(1, 2)
    assert set(SearchSettings.model_fields) <= set(RunConfig.model_fields)
    assert "max_tokens" not in RunConfig.model_fields  # the per-completion limit has one name
