"""The bench's spread over seeds: a Student-t interval, which for the few seeds a bench has is much wider
than the normal approximation would claim."""

from __future__ import annotations

import math

from agent.bench.summary import Spread, fmt_spread


def test_spread_uses_student_t() -> None:
    s = Spread.of([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)
    assert s.ci95 is not None and math.isclose(s.ci95, 4.303 / math.sqrt(3))  # t(0.975, 2 df)
    assert fmt_spread(s) == "2 ± 2.484 (n=3)"


def test_one_or_no_value_has_no_interval() -> None:
    assert Spread.of([0.5]) == Spread(1, 0.5, None, None)
    assert fmt_spread(Spread.of([0.5])) == "0.5 (n=1)"
    assert Spread.of([]) == Spread(0, None, None, None) and fmt_spread(Spread.of([])) == "-"


def test_many_values_fall_back_to_the_normal_quantile() -> None:
    values = [float(i % 2) for i in range(40)]
    s = Spread.of(values)
    assert s.std is not None and s.ci95 is not None
    assert math.isclose(s.ci95, 1.96 * s.std / math.sqrt(40))
