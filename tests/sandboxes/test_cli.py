"""`assay sandbox check|build` through the real typer app (the lead mounts it as `assay sandbox`)."""

from __future__ import annotations

from typer.testing import CliRunner

from sandboxes.availability import docker_status, process_isolation
from sandboxes.cli import app
from tests.support.sandbox import IMAGE

runner = CliRunner()


def test_check_reports_each_sandbox() -> None:
    result = runner.invoke(app, ["check", "--image", IMAGE])
    assert "process sandbox: works" in result.output, result.output
    isolation = process_isolation()
    assert f"process sandbox isolation: {isolation.describe()}" in result.output
    if isolation.level == "plain":
        assert "NOT isolated" in result.output and (isolation.reason or "") in result.output
    if docker_status(IMAGE).usable:
        assert "docker sandbox: works" in result.output
        assert "default for untrusted code: docker" in result.output
        assert result.exit_code == 0
    else:
        assert "docker sandbox: unavailable:" in result.output
        assert "NOT isolated" in result.output


def test_check_names_a_missing_image() -> None:
    result = runner.invoke(app, ["check", "--image", "assay-sandbox:no-such-tag"])
    assert "image assay-sandbox:no-such-tag: no" in result.output
    assert "docker sandbox: unavailable:" in result.output


def test_build_reuses_an_up_to_date_image() -> None:
    if not docker_status(IMAGE).usable or IMAGE != "assay-sandbox:latest":
        import pytest

        pytest.skip("needs the default sandbox image built by `assay sandbox build`")
    result = runner.invoke(app, ["build"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
