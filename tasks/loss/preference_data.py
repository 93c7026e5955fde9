"""The synthetic preference problem: contexts, a reference policy, and pairs labelled by a proxy reward.

A policy picks one of K responses per context. The gold reward is linear in the context; the proxy reward the
labeller uses adds a per-response bonus (think "longer answers look better") that the gold reward does not
pay. Pairs are sampled from the reference policy and labelled by a Bradley-Terry draw on the proxy, as in
RLHF data. Pushing a policy hard towards the proxy's favourites therefore stops paying off on the gold
reward, which is what the held-out score measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

CONTEXT_DIM = 8
RESPONSES = 8
HIDDEN = 32
N_TRAIN = 2000
N_VAL = 500
N_TEST = 500
BIAS_SCALE = 4.0
DATA_SEED = 7

MlpParams = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PreferenceData:
    ref: MlpParams  # the reference (and initial) policy: Linear(d, h), ReLU, Linear(h, K)
    x_train: np.ndarray  # float32 [n, d]
    chosen: np.ndarray  # int64 [n]
    rejected: np.ndarray  # int64 [n]
    x_val: np.ndarray
    x_test: np.ndarray
    w_gold: np.ndarray  # [K, d]: gold reward r(x, y) = x . w_gold[y]
    bias: np.ndarray  # [K]: what the proxy adds

    def split(self, name: str) -> np.ndarray:
        return {"val": self.x_val, "test": self.x_test}[name]

    def rewards(self, x: np.ndarray, kind: str) -> np.ndarray:
        """[n, K] rewards of every response; `kind` is "proxy" (what labelled the pairs) or "gold"."""
        gold = x.astype(np.float64) @ self.w_gold.T
        return gold + self.bias if kind == "proxy" else gold


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ref_policy(rng: np.random.Generator) -> MlpParams:
    w1 = rng.normal(0, 1 / np.sqrt(CONTEXT_DIM), (HIDDEN, CONTEXT_DIM))
    b1 = rng.normal(0, 0.1, HIDDEN)
    w2 = rng.normal(0, 1.0 / np.sqrt(HIDDEN), (RESPONSES, HIDDEN))
    b2 = rng.normal(0, 0.5, RESPONSES)
    return [(w1.astype(np.float32), b1.astype(np.float32)), (w2.astype(np.float32), b2.astype(np.float32))]


@cache
def load() -> PreferenceData:
    from tasks.loss.weights import mlp_logits

    rng = np.random.default_rng(DATA_SEED)
    ref = _ref_policy(rng)
    w_gold = rng.normal(0, 1, (RESPONSES, CONTEXT_DIM))
    bias = BIAS_SCALE * rng.uniform(0, 1, RESPONSES)
    x_all = rng.normal(0, 1, (N_TRAIN + N_VAL + N_TEST, CONTEXT_DIM)).astype(np.float32)
    x_train, x_val, x_test = np.split(x_all, [N_TRAIN, N_TRAIN + N_VAL])
    probs = np.exp(log_softmax(mlp_logits([(w.astype(np.float64), b) for w, b in ref], x_train)))
    pairs = np.array([rng.choice(RESPONSES, size=2, replace=False, p=p) for p in probs])
    data = PreferenceData(ref, x_train, pairs[:, 0], pairs[:, 1], x_val, x_test, w_gold, bias)
    proxy = data.rewards(x_train, "proxy")
    idx = np.arange(N_TRAIN)
    p_first = 1 / (1 + np.exp(-(proxy[idx, pairs[:, 0]] - proxy[idx, pairs[:, 1]])))
    first_wins = rng.uniform(size=N_TRAIN) < p_first
    chosen = np.where(first_wins, pairs[:, 0], pairs[:, 1]).astype(np.int64)
    rejected = np.where(first_wins, pairs[:, 1], pairs[:, 0]).astype(np.int64)
    return PreferenceData(ref, x_train, chosen, rejected, x_val, x_test, w_gold, bias)
