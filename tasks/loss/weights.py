"""Decoding the weights a loss job returns, and the host's own numpy forward passes over them.

The job sends each parameter set as one flat, zlib-compressed base64 string; the shapes are fixed by the
task's architecture, so the host knows the exact size before it decodes a byte: it refuses a string longer
than that size could compress to, and decompresses at most that size plus one byte (a decompression bomb of
a few MB would otherwise expand to GBs in the host), then rejects anything that does not fit or is not finite.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from verifiers.loss.problem import MalformedRun

Layer = tuple[np.ndarray, np.ndarray]  # (weight [out, in], bias [out]) as torch.nn.Linear stores them


def decode_mlp(blob: object, sizes: Sequence[int], dtype: str = "float32") -> list[Layer]:
    """Split a flat parameter string into the Linear layers of an MLP with the given layer sizes."""
    if not isinstance(blob, str):
        raise MalformedRun("weights are not a string")
    expected = sum(a * b + b for a, b in pairwise(sizes))
    raw = bounded_decompress(blob, expected * np.dtype(dtype).itemsize)
    flat = np.frombuffer(raw, dtype=dtype)
    layers: list[Layer] = []
    at = 0
    for n_in, n_out in pairwise(sizes):
        w = flat[at : at + n_in * n_out].reshape(n_out, n_in).astype(np.float64)
        at += n_in * n_out
        b = flat[at : at + n_out].astype(np.float64)
        at += n_out
        layers.append((w, b))
    return layers


def bounded_decompress(blob: str, size: int) -> bytes:
    """Exactly `size` bytes from base64(zlib(...)), or MalformedRun; never more than `size` + 1 in memory.

    zlib's worst case for incompressible data is a few bytes per 16 kB block plus a header, so a longer
    string than `size` could compress to is refused before base64 decoding."""
    if len(blob) > 4 * ((size + size // 1000 + 1024) // 3 + 1):
        raise MalformedRun(f"weights are longer ({len(blob)} characters) than {size} bytes compress to")
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.b64decode(blob, validate=True), size + 1)
    except (binascii.Error, zlib.error, ValueError) as e:
        raise MalformedRun(f"weights do not decode ({e})") from None
    if len(raw) != size or inflate.unconsumed_tail or not inflate.eof:
        got = f"more than {size}" if len(raw) > size or inflate.unconsumed_tail else f"{len(raw)}"
        raise MalformedRun(f"expected {size} bytes of parameters, got {got}")
    return raw


def mlp_logits(layers: Sequence[Layer], x: np.ndarray, activation: str = "relu") -> np.ndarray:
    """The MLP's outputs: Linear layers with the activation between them, none after the last."""
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0) if activation == "relu" else np.tanh(h)
    return h


def finite(layers: Sequence[Layer]) -> bool:
    return all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in layers)
