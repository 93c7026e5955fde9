"""`loss/preference`: the job's files and the host's grading for the synthetic preference problem.

Search score: how much of the possible proxy-reward gain over the reference policy the trained policy reaches
on validation contexts (0 = no better than the reference, 1 = always the proxy's best response). Held-out:
the same on the *gold* reward, on test contexts and fresh seeds, so a loss that over-optimises the proxy
(or drifts far from the reference) pays for it there.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from tasks.loss import preference_data as pdata
from tasks.loss.weights import decode_mlp, finite, mlp_logits
from verifiers.loss_training import Graded, MalformedRun

REWARD_OF_SPLIT = {"val": "proxy", "test": "gold"}


@dataclass(frozen=True)
class PreferenceConfig:
    layers: tuple[int, ...] = (pdata.CONTEXT_DIM, pdata.HIDDEN, pdata.RESPONSES)
    epochs: int = 10
    lr: float = 0.003
    batch_size: int = 64
    beta: float = 0.1
    sample_epochs: tuple[int, ...] = (1, 2, 5, 10)

    def describe(self) -> str:
        return (
            f"a policy network ({self.layers[0]}-{self.layers[1]}-{self.layers[2]} MLP, softmax over "
            f"{self.layers[2]} responses) initialised to the reference policy, trained with Adam "
            f"(lr {self.lr:g}) for {self.epochs} epochs over {pdata.N_TRAIN} pairs in batches of "
            f"{self.batch_size}, beta = {self.beta:g}"
        )


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def policy_logprobs(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    return pdata.log_softmax(mlp_logits(layers, x))


def normalised_gain(logp: np.ndarray, ref_logp: np.ndarray, rewards: np.ndarray) -> float:
    """(E_pi r - E_ref r) / (E max r - E_ref r): the fraction of the reachable improvement achieved."""
    ref_value = (np.exp(ref_logp) * rewards).sum(axis=1).mean()
    value = (np.exp(logp) * rewards).sum(axis=1).mean()
    best = rewards.max(axis=1).mean()
    return float((value - ref_value) / (best - ref_value))


def kl_to_ref(logp: np.ndarray, ref_logp: np.ndarray) -> float:
    return float((np.exp(logp) * (logp - ref_logp)).sum(axis=1).mean())


class SyntheticPreference:
    """A `LossProblem` for DiscoPOP-signature losses; the rewards never leave the host."""

    trainer_source = (
        resources.files("tasks.loss.sandbox").joinpath("preference_trainer.py").read_text("utf-8")
    )

    def __init__(self, config: PreferenceConfig | None = None) -> None:
        self.config = config or PreferenceConfig()

    def job_files(self, seeds: Sequence[int]) -> dict[str, bytes | str]:
        data = pdata.load()
        cfg = {**asdict(self.config), "seeds": list(seeds)}
        files: dict[str, bytes | str] = {
            "config.json": json.dumps(cfg),
            "x_train.npy": _npy(data.x_train),
            "chosen.npy": _npy(data.chosen),
            "rejected.npy": _npy(data.rejected),
        }
        for i, (w, b) in enumerate(data.ref):
            files[f"ref_w{i}.npy"] = _npy(w)
            files[f"ref_b{i}.npy"] = _npy(b)
        return files

    def grade(self, record: dict[str, Any], split: str) -> Graded:
        data = pdata.load()
        x = data.split(split)
        ref_logp = policy_logprobs([(w.astype(np.float64), b.astype(np.float64)) for w, b in data.ref], x)
        runs = record.get("runs")
        if not isinstance(runs, list) or not runs:
            raise MalformedRun("no training runs in the result")
        main = REWARD_OF_SPLIT[split]
        gains: dict[str, list[float]] = {"proxy": [], "gold": []}
        kls: list[float] = []
        for run in runs:
            layers = decode_mlp(run.get("weights"), self.config.layers)
            if not finite(layers):
                raise MalformedRun(f"seed {run.get('seed')}: the trained weights contain NaN or inf")
            logp = policy_logprobs(layers, x)
            for kind in gains:
                gains[kind].append(normalised_gain(logp, ref_logp, data.rewards(x, kind)))
            kls.append(kl_to_ref(logp, ref_logp))
        score = float(np.mean(gains[main]))
        metrics = {
            f"{split}_{main}_gain": score,
            f"{split}_{main}_gain_std": float(np.std(gains[main])),
            f"{split}_kl_to_ref": float(np.mean(kls)),
        }
        if split == "test":  # the gold reward is reported only where it is not shown to the model
            metrics[f"{split}_proxy_gain"] = float(np.mean(gains["proxy"]))
        lines = [
            f"Reward gain over the reference policy: {score:.3f} of the reachable maximum (mean over "
            f"{len(runs)} seeds: {', '.join(f'{g:.3f}' for g in gains[main])}); 0 = no better than the "
            "reference, 1 = always the best response, negative = worse than the reference.",
            f"KL(policy || reference) on these contexts: {np.mean(kls):.3f} nats.",
        ]
        losses = runs[0].get("losses") or {}
        if losses:
            curve = ", ".join(
                f"epoch {e}: {float(v):.4g}" for e, v in sorted(losses.items(), key=lambda i: int(i[0]))
            )
            lines.append(f"Mean training loss (seed {runs[0].get('seed')}): {curve}")
        return Graded(score=score, passed=score > 0.0, metrics=metrics, feedback="\n".join(lines))
