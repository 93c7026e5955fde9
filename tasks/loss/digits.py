"""`loss/noisy-digits`: the job's files and the host's grading for the noisy-label digits problem."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from tasks.loss import digits_data
from tasks.loss.limits import CANDIDATE_CPU_S
from tasks.loss.weights import decode_mlp, finite, mlp_logits
from verifiers.loss.problem import Graded, MalformedRun

CHANCE = 0.1
LEARNED_MARGIN = 0.1  # a loss that ends within this of chance "trained" but learned nothing


@dataclass(frozen=True)
class DigitsConfig:
    """The fixed trainer the candidate loss is judged with; the model is told all of this."""

    layers: tuple[int, ...] = (64, 128, 128, 10)
    epochs: int = 60
    lr: float = 0.01
    batch_size: int = 100
    sample_epochs: tuple[int, ...] = (1, 5, 10, 20, 30, 45, 60)
    #: CPU seconds the candidate's process may use per training run, the same on every split (see
    #: tasks/loss/limits.py for how it was sized)
    candidate_cpu_s: int = CANDIDATE_CPU_S

    def describe(self) -> str:
        arch = "-".join(str(n) for n in self.layers)
        return (
            f"an MLP {arch} with ReLU, trained with Adam (lr {self.lr:g}) for {self.epochs} epochs in "
            f"mini-batches of {self.batch_size}"
        )


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())


class NoisyDigits:
    """A `LossProblem`: ships the noisy training split, grades returned weights on clean held-back data."""

    trainer_source = resources.files("tasks.loss.shipped").joinpath("digits_trainer.py").read_text("utf-8")

    def __init__(self, config: DigitsConfig | None = None) -> None:
        self.config = config or DigitsConfig()

    def job_config(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg["sample_epochs"] = sorted({e for e in self.config.sample_epochs if e <= self.config.epochs})
        return cfg

    def job_files(self) -> dict[str, bytes | str]:
        data = digits_data.load()
        return {
            "x_train.npy": _npy(data.x_train),
            "y_train.npy": _npy(data.y_train),
        }

    def grade(self, record: dict[str, Any], split: str) -> Graded:
        data = digits_data.load()
        x, y = data.split(split)
        runs = record.get("runs")
        if not isinstance(runs, list) or not runs:
            raise MalformedRun("no training runs in the result")
        accs: list[float] = []
        noisy_fit: list[float] = []
        clean_fit: list[float] = []
        for run in runs:
            layers = decode_mlp(run.get("weights"), self.config.layers)
            if not finite(layers):
                raise MalformedRun(f"seed {run.get('seed')}: the trained weights contain NaN or inf")
            accs.append(_accuracy(mlp_logits(layers, x), y))
            train_logits = mlp_logits(layers, data.x_train)
            noisy_fit.append(_accuracy(train_logits, data.y_train))
            clean_fit.append(_accuracy(train_logits, data.y_train_clean))
        score = float(np.mean(accs))
        metrics = {
            f"{split}_acc": score,
            f"{split}_acc_std": float(np.std(accs)),
            "train_acc_noisy_labels": float(np.mean(noisy_fit)),
            "train_acc_true_labels": float(np.mean(clean_fit)),
            **{f"{split}_acc_seed{run.get('seed')}": a for run, a in zip(runs, accs, strict=True)},
        }
        return Graded(score=score, passed=score > CHANCE + LEARNED_MARGIN, metrics=metrics,
                      feedback=self._feedback(runs[0], accs, metrics, split, x, y))  # fmt: skip

    def _feedback(
        self,
        first: dict[str, Any],
        accs: list[float],
        metrics: dict[str, float],
        split: str,
        x: np.ndarray,
        y: np.ndarray,
    ) -> str:
        name = {"val": "Validation", "test": "Test"}[split]
        per_seed = ", ".join(f"{a:.3f}" for a in accs)
        lines = [
            f"{name} accuracy (clean labels): {np.mean(accs):.3f} mean over {len(accs)} seeds ({per_seed}); "
            f"chance is {CHANCE:.2f}.",
            f"Training accuracy: {metrics['train_acc_noisy_labels']:.3f} against the noisy labels it was "
            f"trained on, {metrics['train_acc_true_labels']:.3f} against the true labels "
            "(fitting the noisy labels means memorising the 40% that are wrong).",
        ]
        curve: list[str] = []
        snapshots = first.get("snapshots") or {}
        losses = first.get("losses") or {}
        for epoch in sorted({int(e) for e in (*snapshots, *losses)}):
            acc = ""
            if str(epoch) in snapshots:
                snap = self._snapshot_accuracy(snapshots[str(epoch)], x, y)
                acc = "" if snap is None else f"{name.lower()} acc {snap:.3f}"
            elif epoch == self.config.epochs:
                acc = f"{name.lower()} acc {accs[0]:.3f}"
            loss = f"mean train loss {float(losses[str(epoch)]):.4g}" if str(epoch) in losses else ""
            curve.append(f"  epoch {epoch}: " + ", ".join(p for p in (acc, loss) if p))
        if curve:
            lines.append(f"By epoch (seed {first.get('seed')}):")
            lines.extend(curve)
        return "\n".join(lines)

    def _snapshot_accuracy(self, blob: object, x: np.ndarray, y: np.ndarray) -> float | None:
        """Accuracy of a half-precision mid-training snapshot; None when it does not decode or diverged."""
        try:
            layers = decode_mlp(blob, self.config.layers, "float16")
        except MalformedRun:
            return None
        return _accuracy(mlp_logits(layers, x), y) if finite(layers) else None
