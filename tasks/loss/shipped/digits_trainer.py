"""Sandbox-side trainer for `loss/noisy-digits`: an MLP on noisy-labelled digits with the candidate loss.

The trusted half of the job (see `harness.py`): it reads its config from stdin, loads the training arrays,
and trains; the candidate loss runs in a process of its own and sees only each batch's logits and (noisy)
targets. It never sees validation or test data: it hands the trained weights back and the host grades them.
"""

from __future__ import annotations

import sys

import harness
import numpy as np
import torch
from torch import nn


def build_model(cfg: dict) -> nn.Sequential:
    sizes = cfg["layers"]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def load(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.load("x_train.npy", allow_pickle=False)).float()
    y = torch.from_numpy(np.load("y_train.npy", allow_pickle=False)).long()
    return x, y


def gate_inputs(cfg: dict):
    classes = cfg["layers"][-1]

    def inputs(g: torch.Generator, scale: float) -> list[harness.Arg]:
        logits = torch.randn(cfg["batch_size"], classes, generator=g) * scale
        targets = torch.randint(0, classes, (cfg["batch_size"],), generator=g)
        return [(logits, "diff"), (targets, "const")]

    return inputs


def train_seed(
    loss: harness.Loss,
    cfg: dict,
    data: tuple[torch.Tensor, torch.Tensor],
    seed: int,
    rng_seed: int,
    first: bool,
) -> tuple[list[torch.Tensor], dict[str, str], dict[str, float]]:
    """One seeded training run; `seed` only names it in messages, `rng_seed` is what the RNGs get."""
    x, y = data
    torch.manual_seed(rng_seed)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    order = torch.Generator().manual_seed(rng_seed)
    snapshots: dict[str, str] = {}
    losses: dict[str, float] = {}
    for epoch in range(1, cfg["epochs"] + 1):
        perm = torch.randperm(len(x), generator=order)
        total, steps = 0.0, 0
        for start in range(0, len(x), cfg["batch_size"]):
            idx = perm[start : start + cfg["batch_size"]]
            opt.zero_grad(set_to_none=True)
            logits = model(x[idx])
            where = f"at seed {seed}, epoch {epoch}, step {steps + 1}"
            total += loss.backward([(logits, "diff"), (y[idx], "const")], where)
            opt.step()
            steps += 1
        if epoch in cfg["sample_epochs"]:
            losses[str(epoch)] = total / steps
            if first and epoch != cfg["epochs"]:
                snapshots[str(epoch)] = harness.encode(list(model.parameters()), "float16")
    return list(model.parameters()), snapshots, losses


if __name__ == "__main__":
    harness.main(sys.modules[__name__])  # type: ignore[arg-type]
