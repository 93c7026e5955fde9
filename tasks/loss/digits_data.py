"""The noisy-digits problem's data: scikit-learn's bundled digits, split once, training labels corrupted.

The split and the noise are fixed (seeded) so every candidate sees the same problem; only the training seed
(initialisation and batch order) varies between runs. Validation and test labels stay clean and stay on the
host: the sandboxed job gets the noisy training split only, so a candidate cannot train on what grades it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from agent.kernel.errors import ConfigError

NOISE_RATE = 0.4
SPLIT_SEED = 0
NOISE_SEED = 1
N_TRAIN = 1000
N_VAL = 397  # the remaining 400 of the 1797 images are the test split


@dataclass(frozen=True)
class DigitsData:
    x_train: np.ndarray  # float32 [n, 64], pixel values scaled to [0, 1]
    y_train: np.ndarray  # int64, 40% of labels replaced by a different random class
    y_train_clean: np.ndarray  # kept on the host to report how much of the noise a loss resisted
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return {"val": (self.x_val, self.y_val), "test": (self.x_test, self.y_test)}[name]


def symmetric_noise(y: np.ndarray, rate: float, classes: int, seed: int) -> np.ndarray:
    """Flip a `rate` fraction of labels, each to a uniformly chosen *other* class."""
    rng = np.random.default_rng(seed)
    flip = rng.permutation(len(y))[: round(rate * len(y))]
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, classes, size=len(flip))) % classes
    return noisy


@cache
def load() -> DigitsData:
    """The split data; a missing scikit-learn is a one-line ConfigError, because the task's verifier
    version (checked when the task is built, before its `needs`) hashes this data."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ConfigError(
            f"loss/noisy-digits needs scikit-learn on the host ({e}): pip install -e '.[loss]' "
            "(or bash scripts/setup.sh --loss)"
        ) from None

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    tr, va, te = order[:N_TRAIN], order[N_TRAIN : N_TRAIN + N_VAL], order[N_TRAIN + N_VAL :]
    return DigitsData(
        x_train=x[tr],
        y_train=symmetric_noise(y[tr], NOISE_RATE, 10, NOISE_SEED),
        y_train_clean=y[tr],
        x_val=x[va],
        y_val=y[va],
        x_test=x[te],
        y_test=y[te],
    )
