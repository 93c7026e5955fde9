"""Bookkeeping shared by the trainers: episode returns per reward component, success, physical parameters.

Eureka's reward reflection shows each component's episode return and the task success at about ten points
of training; `Windows` collects exactly that from finished episodes.
"""

from __future__ import annotations

import numpy as np


class Windows:
    """Means over the episodes that finished within each of `n` equal slices of training."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._sums: list[dict[str, float]] = [{} for _ in range(n)]
        self._counts = [0] * n

    def add(self, window: int, values: dict[str, np.ndarray]) -> None:
        """Record finished episodes: `values` maps a name to one value per finished episode."""
        w = min(max(window, 0), self.n - 1)
        count = len(next(iter(values.values()))) if values else 0
        if not count:
            return
        self._counts[w] += count
        for name, v in values.items():
            self._sums[w][name] = self._sums[w].get(name, 0.0) + float(np.sum(v))

    def means(self) -> dict[str, list[float | None]]:
        names = sorted({k for s in self._sums for k in s})
        out: dict[str, list[float | None]] = {}
        for name in names:
            out[name] = [
                (s[name] / c if c and name in s else None)
                for s, c in zip(self._sums, self._counts, strict=True)
            ]
        return out


def sample_params(
    defaults: dict[str, float], randomise: dict[str, list[float]] | None, rng: np.random.Generator, n: int
) -> dict[str, object]:
    """Physical parameters for n environments: defaults, with the named ones drawn uniformly per env."""
    params: dict[str, object] = dict(defaults)
    for name, (low, high) in (randomise or {}).items():
        params[name] = rng.uniform(low, high, size=n)
    return params


def set_rows(params: dict[str, object], fresh: dict[str, object], rows: np.ndarray) -> None:
    """Replace the per-env parameters of `rows` (envs that just reset) with freshly drawn ones."""
    for name, value in fresh.items():
        current = params[name]
        if isinstance(current, np.ndarray) and isinstance(value, np.ndarray):
            current[rows] = value[rows]
