"""Tasks come from plugins: an installed package's `assay.tasks` entry point, or ASSAY_TASK_MODULES. A task
whose verifier does not implement the protocol is refused when it is built, in one line, through the real
console script (it used to be a 135-line traceback, or every candidate silently `error`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import assay, cli_env

PLUGIN = """
from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task


class Echo:
    name = "echo"
    version = fingerprint("echo")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        return Verdict(status=VerdictStatus.OK, score=1.0)


@task("plugin/echo", "a task from an installed plugin")
def echo() -> Task:
    return Task("plugin/echo", "0", "Say anything.", parse=str.strip, verifier=Echo())
"""

BROKEN = """
from agent.kernel import Task, Verdict, VerdictStatus, task


class NoVersion:
    name = "no-version"

    async def verify(self, hypothesis):
        return Verdict(status=VerdictStatus.OK, score=1.0)


class SyncVerify:
    name = "sync"
    version = "1"

    def verify(self, hypothesis):
        return Verdict(status=VerdictStatus.OK, score=1.0)


@task("broken/no-version", "verifier without a version")
def no_version() -> Task:
    return Task("broken/no-version", "0", "x", parse=str.strip, verifier=NoVersion())


@task("broken/sync", "verifier whose verify is not async")
def sync() -> Task:
    return Task("broken/sync", "0", "x", parse=str.strip, verifier=SyncVerify())
"""


def install_plugin(root: Path) -> None:
    """A package installed the way pip leaves it: its code plus a dist-info naming the entry point."""
    (root / "assay_echo_plugin").mkdir()
    (root / "assay_echo_plugin" / "__init__.py").write_text(PLUGIN)
    info = root / "assay_echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: assay-echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[assay.tasks]\necho = assay_echo_plugin\n")


def test_an_installed_plugin_adds_its_tasks(tmp_path: Path) -> None:
    install_plugin(tmp_path)
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    listed = assay("tasks", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "plugin/echo" in listed.stdout and "a task from an installed plugin" in listed.stdout
    assert "example/guess" in listed.stdout  # the built-ins come through the same group
    without = assay("tasks")
    assert "plugin/echo" not in without.stdout


@pytest.mark.parametrize(
    ("task", "says"),
    [
        ("broken/no-version", "NoVersion is not a verifier: it needs a non-empty string `version`"),
        ("broken/sync", "SyncVerify.verify must be `async def verify(self, hypothesis) -> Verdict`"),
    ],
)
def test_a_verifier_that_breaks_the_protocol_is_refused_in_one_line(
    tmp_path: Path, task: str, says: str
) -> None:
    (tmp_path / "broken_tasks.py").write_text(BROKEN)
    env = cli_env(ASSAY_TASK_MODULES="broken_tasks")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    result = assay("run", task, "--model", "openai/x", "--base-url", "http://127.0.0.1:9", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and says in lines[0] and task in lines[0]


def test_a_plugin_module_that_does_not_import_is_one_line() -> None:
    result = assay("tasks", env=cli_env(ASSAY_TASK_MODULES="no_such_plugin_module"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: cannot import task module 'no_such_plugin_module': No module named 'no_such_plugin_module'"
    )
