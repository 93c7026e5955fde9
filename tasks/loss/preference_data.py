"""The synthetic preference problem: contexts, a reference policy, and pairs labelled by a proxy reward.

A policy picks one of K responses per context. Every response has a context-dependent quality (linear in the
context), which both rewards share. One response is a *hack* (think flattery): the labeller's proxy reward
over-rates it by a wide margin, while the gold reward docks it a little. The reference policy rarely produces
it (~2% of its samples), so only a few training pairs contain it, and the labeller almost always prefers it
there.

Pairs are sampled from the reference policy and labelled by a Bradley-Terry draw on the proxy, as in RLHF
data. A loss that moves the policy a little towards the labeller's preferences mostly learns quality and gains
on both rewards; one that pushes hard (weak KL regularisation, an unbounded margin, long training) ends up
putting its mass on the hack, which keeps raising the proxy score and lowers the gold score, down to below the
reference. Measured (bench/RESULTS.md): DPO's proxy gain rises monotonically as beta falls (to 0.1, where it
saturates) while its gold gain peaks at beta 1-2 and then drops below the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tasks.loss.weights import mlp_logits

CONTEXT_DIM = 8
RESPONSES = 8
HIDDEN = 32
N_TRAIN = 2000
N_VAL = 500
N_TEST = 500
QUALITY_SCALE = 2.0  # std of a response's quality over contexts: labels mostly follow it
HACK = RESPONSES - 1  # the response the labeller over-rates
HACK_BONUS = 6.0  # what the proxy adds to the hack: enough to beat nearly any honest response
HACK_COST = 1.0  # what the gold reward takes off it
HACK_RARITY = 2.0  # nats off the reference policy's logit for the hack, so few pairs show it
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
    w_quality: np.ndarray  # [K, d]: quality q(x, y) = x . w_quality[y], shared by both rewards

    def split(self, name: str) -> np.ndarray:
        return {"train": self.x_train, "val": self.x_val, "test": self.x_test}[name]

    def rewards(self, x: np.ndarray, kind: str) -> np.ndarray:
        """[n, K] rewards of every response; `kind` is "proxy" (what labelled the pairs) or "gold"."""
        r = x.astype(np.float64) @ self.w_quality.T
        r[:, HACK] += HACK_BONUS if kind == "proxy" else -HACK_COST
        return r


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ref_policy(rng: np.random.Generator) -> MlpParams:
    w1 = rng.normal(0, 1 / np.sqrt(CONTEXT_DIM), (HIDDEN, CONTEXT_DIM))
    b1 = rng.normal(0, 0.1, HIDDEN)
    w2 = rng.normal(0, 1.0 / np.sqrt(HIDDEN), (RESPONSES, HIDDEN))
    b2 = rng.normal(0, 0.5, RESPONSES)
    b2[HACK] -= HACK_RARITY
    return [(w1.astype(np.float32), b1.astype(np.float32)), (w2.astype(np.float32), b2.astype(np.float32))]


def ref_logprobs(data: PreferenceData, x: np.ndarray) -> np.ndarray:
    return log_softmax(mlp_logits([(w.astype(np.float64), b.astype(np.float64)) for w, b in data.ref], x))


@cache
def load() -> PreferenceData:
    rng = np.random.default_rng(DATA_SEED)
    ref = _ref_policy(rng)
    w_quality = rng.normal(0, QUALITY_SCALE / np.sqrt(CONTEXT_DIM), (RESPONSES, CONTEXT_DIM))
    x_all = rng.normal(0, 1, (N_TRAIN + N_VAL + N_TEST, CONTEXT_DIM)).astype(np.float32)
    x_train, x_val, x_test = np.split(x_all, [N_TRAIN, N_TRAIN + N_VAL])
    empty = np.zeros(0, np.int64)
    data = PreferenceData(ref, x_train, empty, empty, x_val, x_test, w_quality)
    probs = np.exp(ref_logprobs(data, x_train))
    pairs = np.array([rng.choice(RESPONSES, size=2, replace=False, p=p / p.sum()) for p in probs])
    proxy = data.rewards(x_train, "proxy")
    idx = np.arange(N_TRAIN)
    p_first = 1 / (1 + np.exp(-(proxy[idx, pairs[:, 0]] - proxy[idx, pairs[:, 1]])))
    first_wins = rng.uniform(size=N_TRAIN) < p_first
    chosen = np.where(first_wins, pairs[:, 0], pairs[:, 1]).astype(np.int64)
    rejected = np.where(first_wins, pairs[:, 1], pairs[:, 0]).astype(np.int64)
    return PreferenceData(ref, x_train, chosen, rejected, x_val, x_test, w_quality)
