"""Read and sanity-check a GGUF file's header in pure Python before llama.cpp ever sees it.

llama.cpp trusts the file it is given: on some malformed inputs it hits a `GGML_ASSERT` and aborts the
whole process, taking the search (and its unsaved state) with it. Walking the header ourselves catches the
common failures - wrong file, truncated download, half-assembled parts - with a message that says what is
wrong, and gives us the metadata (architecture, trained context length) without loading any weights.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.kernel.errors import ConfigError, ModelError

GGUF_MAGIC = b"GGUF"
_SUPPORTED_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32
# Caps far above any real model, so a corrupt count fails fast instead of allocating or looping for ever.
_MAX_TENSORS = 1_000_000
_MAX_KV = 100_000
_MAX_STRING = 64 * 1024 * 1024
_MAX_DIMS = 8

# (block size in elements, bytes per block) of the ggml types whose layout is stable across versions; other
# types are checked only by their offset, which still catches truncation of everything before them.
_TYPE_LAYOUT: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    30: (1, 2),  # BF16
}

# GGUF metadata value types -> struct format of the scalar ones.
_SCALARS: dict[int, str] = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


class GGUFError(ModelError, ConfigError):
    """A weights file is missing, is not GGUF, or is corrupt/truncated; loading it could crash llama.cpp."""


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    size_bytes: int
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    data_end: int  # the file must be at least this long for every tensor to be readable

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def display_name(self) -> str:
        return str(self.metadata.get("general.name", self.path.stem))


class _Reader:
    """Bounds-checked little-endian reads over a memory map; running off the end means a truncated file."""

    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        self.buf, self.path, self.size, self.pos = buf, path, len(buf), 0

    def _advance(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.size:
            raise GGUFError(f"{self.path}: truncated GGUF header (file is only {self.size} bytes)")
        self.pos = start + n
        return start

    def take(self, n: int) -> bytes:
        start = self._advance(n)
        return self.buf[start : start + n]

    def scalar(self, fmt: str) -> Any:
        start = self._advance(struct.calcsize(fmt))
        return struct.unpack_from("<" + fmt, self.buf, start)[0]

    def string(self, *, keep: bool = True) -> str:
        n = self.scalar("Q")
        if n > _MAX_STRING:
            raise GGUFError(f"{self.path}: corrupt GGUF (a string claims {n} bytes)")
        if not keep:
            self._advance(n)
            return ""
        return self.take(n).decode("utf-8", "replace")

    def value(self, vtype: int, *, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string(keep=keep)
        if vtype == _ARRAY:
            itype, count = self.scalar("I"), self.scalar("Q")
            if count > self.size:
                raise GGUFError(f"{self.path}: corrupt GGUF (an array claims {count} items)")
            if itype in _SCALARS and not keep:  # skip big arrays (token scores) without decoding them
                self._advance(count * struct.calcsize(_SCALARS[itype]))
                return None
            items = [self.value(itype, keep=keep) for _ in range(count)]
            return items if keep else None
        raise GGUFError(f"{self.path}: corrupt GGUF (unknown metadata value type {vtype})")


def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse the header, metadata and tensor table; raise `GGUFError` on anything llama.cpp could trip on."""
    p = Path(path).expanduser()
    if not p.exists():
        raise GGUFError(f"GGUF file not found: {p}")
    if not p.is_file():
        raise GGUFError(f"not a regular file: {p}")
    size = p.stat().st_size
    if size < 24:
        raise GGUFError(f"{p}: not a GGUF file (only {size} bytes)")
    with p.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        r = _Reader(buf, p)
        if r.take(4) != GGUF_MAGIC:
            raise GGUFError(f"{p}: not a GGUF file (bad magic); expected a llama.cpp .gguf model")
        version = r.scalar("I")
        if version not in _SUPPORTED_VERSIONS:
            raise GGUFError(f"{p}: unsupported GGUF version {version}")
        tensor_count, kv_count = r.scalar("Q"), r.scalar("Q")
        if tensor_count > _MAX_TENSORS or kv_count > _MAX_KV:
            raise GGUFError(f"{p}: corrupt GGUF (claims {tensor_count} tensors, {kv_count} metadata keys)")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = r.string()
            vtype = r.scalar("I")
            value = r.value(vtype, keep=vtype != _ARRAY)
            if value is not None:
                metadata[key] = value
        tensors: list[tuple[str, int, int]] = []  # (name, offset, byte size or 0 when the type is unknown)
        for _ in range(tensor_count):
            name = r.string()
            n_dims = r.scalar("I")
            if n_dims > _MAX_DIMS:
                raise GGUFError(f"{p}: corrupt GGUF (tensor {name!r} has {n_dims} dimensions)")
            elements = 1
            for _ in range(n_dims):
                elements *= r.scalar("Q")
            ttype, offset = r.scalar("I"), r.scalar("Q")
            tensors.append((name, offset, _tensor_bytes(ttype, elements)))
        alignment = int(metadata.get("general.alignment", _DEFAULT_ALIGNMENT)) or _DEFAULT_ALIGNMENT
        data_start = -(-r.pos // alignment) * alignment
    data_end = max((data_start + off + nbytes for _, off, nbytes in tensors), default=data_start)
    if data_end > size:
        raise GGUFError(
            f"{p}: truncated or corrupt GGUF: its tensors need {data_end} bytes but the file has {size}; "
            "re-download or re-assemble it"
        )
    return GGUFInfo(p, size, version, tensor_count, metadata, data_end)


def _tensor_bytes(ttype: int, elements: int) -> int:
    block, nbytes = _TYPE_LAYOUT.get(ttype, (0, 0))
    return 0 if block == 0 else (elements // block) * nbytes
