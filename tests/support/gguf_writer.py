"""Write small, real GGUF files byte by byte, so header checks are tested on files we control exactly."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, value: str | int | float) -> bytes:
    if isinstance(value, str):
        return _string(key) + struct.pack("<I", 8) + _string(value)
    if isinstance(value, int):
        return _string(key) + struct.pack("<II", 4, value)
    return _string(key) + struct.pack("<If", 6, value)


def gguf_bytes(
    metadata: dict[str, str | int | float],
    tensors: list[tuple[str, int]],
    *,
    version: int = 3,
    magic: bytes = b"GGUF",
) -> bytes:
    """A GGUF with F32 tensors of the given element counts, laid out with the default 32-byte alignment."""
    head = magic + struct.pack("<IQQ", version, len(tensors), len(metadata))
    head += b"".join(_kv(k, v) for k, v in metadata.items())
    offset = 0
    data = b""
    for name, elements in tensors:
        head += _string(name) + struct.pack("<IQIQ", 1, elements, 0, offset)
        blob = struct.pack(f"<{elements}f", *([0.5] * elements))
        blob += b"\0" * (-len(blob) % 32)
        data += blob
        offset += len(blob)
    head += b"\0" * (-len(head) % 32)
    return head + data


def write_gguf(path: Path, metadata: dict[str, str | int | float], tensors: list[tuple[str, int]]) -> Path:
    path.write_bytes(gguf_bytes(metadata, tensors))
    return path
