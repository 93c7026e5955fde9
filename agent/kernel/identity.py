"""Fingerprints: the derived identity of a verifier, for the verdict cache.

`fingerprint(*parts)` hashes a canonical JSON rendering of everything it is given: numbers, strings,
mappings, sequences, pydantic models and dataclasses (by their fields), and modules or files (by their
source text, so editing a program shipped into the sandbox changes the verdict's key). A part it cannot
render canonically is refused rather than hashed by `repr`, whose addresses would make every run miss.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import inspect
import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel


def source_of(module: ModuleType) -> str:
    """The text of a module's source file."""
    return Path(inspect.getfile(module)).read_text(encoding="utf-8")


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, bytes):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, BaseModel):
        return {type(value).__name__: _canonical(value.model_dump(mode="json"))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {type(value).__name__: _canonical(fields)}
    if isinstance(value, ModuleType):
        return {"module": value.__name__, "source": hashlib.sha256(source_of(value).encode()).hexdigest()}
    if isinstance(value, Path):
        return {"file": value.name, "sha256": hashlib.sha256(value.read_bytes()).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    raise TypeError(f"cannot fingerprint a {type(value).__name__}: pass its defining data instead")


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of `parts` (see the module docstring for what each kind contributes)."""
    text = json.dumps([_canonical(p) for p in parts], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
