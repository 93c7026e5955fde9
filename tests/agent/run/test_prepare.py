"""`prepare`: what a run resolves before the first model call and records (model spec, the task's module,
the sandbox), and the one-line refusals, on the real registry and the real Docker probe."""

from __future__ import annotations

import pytest

from agent.kernel.errors import ConfigError
from agent.run.config import RunConfig
from agent.run.runner import prepare
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig
from tests.support.sandbox import require_docker

NO_DOCKER = "unix:///nonexistent/assay-test/docker.sock"


def test_a_task_without_candidate_code_records_its_module_and_no_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)  # never probed for it
    prepared = prepare(RunConfig(task="example/guess", model="openai/gpt-test"))
    assert prepared.config.task_module == "tasks.example.guess"
    assert prepared.config.model == prepared.model_spec == "openai/gpt-test"
    assert prepared.config.sandbox is None and prepared.warnings == ()


def test_without_docker_a_code_task_is_refused_in_one_line_and_resume_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    config = RunConfig(task="code/humaneval", model="openai/gpt-test")
    with pytest.raises(ConfigError) as new:
        prepare(config)
    assert "--sandbox process" in str(new.value) and "\n" not in str(new.value)
    recorded = config.model_copy(update={"sandbox": DockerSandboxConfig()})
    with pytest.raises(ConfigError) as resumed:
        prepare(recorded, resuming=True)
    assert "recorded with the Docker sandbox" in str(resumed.value)
    assert "--sandbox process" not in str(resumed.value)  # resume repeats the run; it offers no switch


def test_the_process_sandbox_chosen_knowingly_is_kept_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    chosen = ProcessSandboxConfig(pool_size=1, isolation="plain")
    prepared = prepare(RunConfig(task="code/humaneval", model="openai/gpt-test", sandbox=chosen))
    assert prepared.config.sandbox == chosen
    [warning] = prepared.warnings
    assert "does NOT isolate untrusted code" in warning and "isolation: plain was chosen" in warning
    bwrap = ProcessSandboxConfig(pool_size=1, isolation="bwrap")
    [warning] = prepare(RunConfig(task="code/humaneval", model="openai/gpt-test", sandbox=bwrap)).warnings
    assert "under bubblewrap" in warning and "NOT" not in warning


@pytest.mark.docker
def test_docker_is_resolved_and_recorded_when_nothing_is_chosen() -> None:
    require_docker()
    prepared = prepare(RunConfig(task="code/humaneval", model="openai/gpt-test"))
    assert prepared.config.sandbox == DockerSandboxConfig() and prepared.warnings == ()


def test_a_recorded_module_that_has_gone_does_not_hide_a_task_the_plugins_still_register() -> None:
    moved = RunConfig(task="example/guess", task_module="assay_test_module_that_moved", model="openai/x")
    assert prepare(moved).config.task_module == "tasks.example.guess"  # recorded anew where it is now
    gone = RunConfig(task="mine/gone", task_module="assay_test_module_that_moved", model="openai/x")
    with pytest.raises(ConfigError, match="cannot import task module 'assay_test_module_that_moved'"):
        prepare(gone)
