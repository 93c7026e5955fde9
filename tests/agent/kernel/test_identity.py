"""`fingerprint`: canonical, order-independent where order means nothing, and refusing what it cannot
render canonically (a `repr` with an address would make every resumed run miss the cache)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from agent.kernel import Limits, fingerprint


@dataclasses.dataclass(frozen=True)
class Setting:
    steps: int
    rate: float


def test_equal_values_have_equal_fingerprints_whatever_the_key_order() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({3, 1, 2}) == fingerprint({2, 3, 1})
    assert fingerprint(Setting(5, 0.1)) == fingerprint(Setting(5, 0.1))
    assert fingerprint(Limits(wall_s=3)) == fingerprint(Limits(wall_s=3.0))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((1, 2), (2, 1)),
        ({"a": 1}, {"a": 2}),
        (Setting(5, 0.1), Setting(5, 0.2)),
        (Limits(wall_s=3), Limits(wall_s=4)),
        ("1", 1),
        (b"x", b"y"),
        (float("nan"), float("inf")),
    ],
)
def test_any_difference_changes_the_fingerprint(a: object, b: object) -> None:
    assert fingerprint(a) != fingerprint(b)


def test_a_module_or_file_counts_by_its_source(tmp_path: Path) -> None:
    path = tmp_path / "shipped_prog.py"
    path.write_text("X = 1\n")
    spec = importlib.util.spec_from_file_location("shipped_prog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = (fingerprint(module), fingerprint(path))
    path.write_text("X = 2\n")
    assert fingerprint(module) != before[0]
    assert fingerprint(path) != before[1]


def test_what_has_no_canonical_form_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot fingerprint a object"):
        fingerprint(object())
