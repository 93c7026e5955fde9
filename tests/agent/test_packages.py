"""assay's package names are generic; another distribution's `verifiers` (there is one on PyPI) must not be
picked up silently in assay's place."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import assay, cli_env


def test_a_foreign_verifiers_package_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "verifiers").mkdir()
    (tmp_path / "verifiers" / "__init__.py").write_text('"""Someone else\'s verifiers."""\n')
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    result = assay("tasks", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: the 'verifiers' package at {tmp_path / 'verifiers'} is not assay's: "
        "install assay in its own virtual environment"
    )


def test_assays_own_packages_pass_the_check() -> None:
    result = assay("tasks")
    assert result.returncode == 0, result.stderr
    assert "math/derivative" in result.stdout
