"""`loss/preference`: the job's files and the host's grading for the synthetic preference problem.

Search score: how much of the possible proxy-reward gain over the reference policy the trained policy reaches
on validation contexts (0 = no better than the reference, 1 = always the proxy's best response). Held-out:
the same on the *gold* reward, on test contexts and fresh seeds, so a loss that over-optimises the proxy
(pushes the policy onto the response the labeller over-rates) pays for it there. The search split's numbers,
and so the feedback the model sees, are computed on the proxy reward only.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from tasks.loss import preference_data as pdata
from tasks.loss.limits import CANDIDATE_CPU_S
from tasks.loss.weights import Layer, decode_mlp, finite, mlp_logits
from verifiers.loss.problem import Graded, MalformedRun

REWARD_OF_SPLIT = {"val": "proxy", "test": "gold"}
REWARD_NAME = {"proxy": "the labeller's reward", "gold": "the gold reward"}
CONTEXTS_NAME = {"val": "validation contexts", "test": "test contexts"}


@dataclass(frozen=True)
class PreferenceConfig:
    layers: tuple[int, ...] = (pdata.CONTEXT_DIM, pdata.HIDDEN, pdata.RESPONSES)
    epochs: int = 10
    lr: float = 0.003
    batch_size: int = 64
    beta: float = 0.1
    sample_epochs: tuple[int, ...] = (1, 2, 3, 5, 7, 10)
    #: CPU seconds the candidate's process may use per training run, the same on every split (see
    #: tasks/loss/limits.py for how it was sized)
    candidate_cpu_s: int = CANDIDATE_CPU_S

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


def policy_logprobs(layers: Sequence[Layer], x: np.ndarray) -> np.ndarray:
    return pdata.log_softmax(mlp_logits(layers, x))


def normalised_gain(logp: np.ndarray, ref_logp: np.ndarray, rewards: np.ndarray) -> float:
    """(E_pi r - E_ref r) / (E max r - E_ref r): the fraction of the reachable improvement achieved."""
    ref_value = (np.exp(ref_logp) * rewards).sum(axis=1).mean()
    value = (np.exp(logp) * rewards).sum(axis=1).mean()
    best = rewards.max(axis=1).mean()
    return float((value - ref_value) / (best - ref_value))


def kl_to_ref(logp: np.ndarray, ref_logp: np.ndarray) -> float:
    return float((np.exp(logp) * (logp - ref_logp)).sum(axis=1).mean())


@dataclass(frozen=True)
class _Eval:
    """One policy measured on the split's contexts (every reward) and on the training pairs."""

    gains: dict[str, float]
    kl: float
    pair_accuracy: float  # share of training pairs whose log-ratio margin favours the chosen response
    pair_margin: float  # mean log-ratio margin on the training pairs, in nats


class SyntheticPreference:
    """A `LossProblem` for DiscoPOP-signature losses; the rewards never leave the host."""

    trainer_source = (
        resources.files("tasks.loss.shipped").joinpath("preference_trainer.py").read_text("utf-8")
    )

    def __init__(self, config: PreferenceConfig | None = None) -> None:
        self.config = config or PreferenceConfig()

    def job_config(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg["sample_epochs"] = sorted({e for e in self.config.sample_epochs if e <= self.config.epochs})
        return cfg

    def job_files(self) -> dict[str, bytes | str]:
        data = pdata.load()
        files: dict[str, bytes | str] = {
            "x_train.npy": _npy(data.x_train),
            "chosen.npy": _npy(data.chosen),
            "rejected.npy": _npy(data.rejected),
        }
        for i, (w, b) in enumerate(data.ref):
            files[f"ref_w{i}.npy"] = _npy(w)
            files[f"ref_b{i}.npy"] = _npy(b)
        return files

    def _evaluate(self, layers: Sequence[Layer], x: np.ndarray, kinds: Sequence[str]) -> _Eval:
        data = pdata.load()
        ref_logp = pdata.ref_logprobs(data, x)
        logp = policy_logprobs(layers, x)
        gains = {kind: normalised_gain(logp, ref_logp, data.rewards(x, kind)) for kind in kinds}
        idx = np.arange(len(data.x_train))
        ratio = policy_logprobs(layers, data.x_train) - pdata.ref_logprobs(data, data.x_train)
        margin = ratio[idx, data.chosen] - ratio[idx, data.rejected]
        return _Eval(gains, kl_to_ref(logp, ref_logp), float((margin > 0).mean()), float(margin.mean()))

    def grade(self, record: dict[str, Any], split: str) -> Graded:
        x = pdata.load().split(split)
        main = REWARD_OF_SPLIT[split]
        kinds = ("proxy", "gold") if split == "test" else ("proxy",)  # gold only where the model never looks
        runs = record.get("runs")
        if not isinstance(runs, list) or not runs:
            raise MalformedRun("no training runs in the result")
        finals: list[_Eval] = []
        by_epoch: dict[int, list[_Eval]] = {}
        for run in runs:
            if not isinstance(run, dict):
                raise MalformedRun("a training run is not a record")
            layers = decode_mlp(run.get("weights"), self.config.layers)
            if not finite(layers):
                raise MalformedRun(f"seed {run.get('seed')}: the trained weights contain NaN or inf")
            finals.append(self._evaluate(layers, x, kinds))
            by_epoch.setdefault(self.config.epochs, []).append(finals[-1])
            snapshots = run.get("snapshots")
            snapshots = snapshots if isinstance(snapshots, dict) else {}
            for epoch in self.config.sample_epochs:  # only epochs we asked for: a forger cannot add work
                snap = self._snapshot(snapshots.get(str(epoch))) if epoch < self.config.epochs else None
                if snap is not None:
                    by_epoch.setdefault(epoch, []).append(self._evaluate(snap, x, kinds))
        gains = [f.gains[main] for f in finals]
        score = float(np.mean(gains))
        metrics = {
            f"{split}_{main}_gain": score,
            f"{split}_{main}_gain_std": float(np.std(gains)),
            f"{split}_kl_to_ref": float(np.mean([f.kl for f in finals])),
            "train_pair_accuracy": float(np.mean([f.pair_accuracy for f in finals])),
            "train_pair_margin": float(np.mean([f.pair_margin for f in finals])),
        }
        for kind in kinds:
            if kind != main:
                metrics[f"{split}_{kind}_gain"] = float(np.mean([f.gains[kind] for f in finals]))
            for epoch, evals in by_epoch.items():
                metrics[f"{split}_{kind}_gain_epoch{epoch}"] = float(np.mean([e.gains[kind] for e in evals]))
        feedback = self._feedback(runs, finals, by_epoch, split, gains)
        return Graded(score=score, passed=score > 0.0, metrics=metrics, feedback=feedback)

    def _snapshot(self, blob: object) -> list[Layer] | None:
        """A half-precision mid-training snapshot; None when it does not decode or has diverged."""
        try:
            layers = decode_mlp(blob, self.config.layers, "float16")
        except MalformedRun:
            return None
        return layers if finite(layers) else None

    def _feedback(
        self,
        runs: list[dict[str, Any]],
        finals: list[_Eval],
        by_epoch: dict[int, list[_Eval]],
        split: str,
        gains: list[float],
    ) -> str:
        main = REWARD_OF_SPLIT[split]
        final_losses = [_loss_at(run, self.config.epochs) for run in runs]
        known = [v for v in final_losses if v is not None]
        lines = [
            f"Reward gain over the reference policy ({REWARD_NAME[main]}, {CONTEXTS_NAME[split]}): "
            f"{np.mean(gains):.3f} of the reachable maximum (mean over {len(runs)} seeds: "
            f"{', '.join(f'{g:.3f}' for g in gains)}); 0 = no better than the reference, 1 = always the best "
            "response, negative = worse than the reference.",
            f"KL(policy || reference) on these contexts: {np.mean([f.kl for f in finals]):.3f} nats.",
            f"Training pairs: the policy's log-ratio margin favours the chosen response on "
            f"{np.mean([f.pair_accuracy for f in finals]):.1%} of them (mean margin "
            f"{np.mean([f.pair_margin for f in finals]):.2f} nats)"
            + (f"; final mean training loss {np.mean(known):.4g}." if known else "."),
        ]
        curve: list[str] = []
        for epoch in sorted(by_epoch):
            evals = by_epoch[epoch]
            parts = [
                f"reward gain {np.mean([e.gains[main] for e in evals]):.3f}",
                f"KL {np.mean([e.kl for e in evals]):.3f}",
            ]
            losses = [v for v in (_loss_at(run, epoch) for run in runs) if v is not None]
            if losses:
                parts.append(f"mean train loss {np.mean(losses):.4g}")
            curve.append(f"  epoch {epoch}: " + ", ".join(parts))
        if len(curve) > 1:
            lines.append(f"By epoch ({CONTEXTS_NAME[split]}, mean over seeds):")
            lines.extend(curve)
        return "\n".join(lines)


def _loss_at(run: dict[str, Any], epoch: int) -> float | None:
    losses = run.get("losses")
    value = losses.get(str(epoch)) if isinstance(losses, dict) else None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
