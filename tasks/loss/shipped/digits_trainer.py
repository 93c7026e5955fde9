"""Sandbox-side trainer for `loss/noisy-digits`: an MLP on noisy-labelled digits with the candidate loss.

Runs inside the sandbox next to `harness.py`, `candidate.py`, `config.json` and the training arrays. It never
sees validation or test data: it hands the trained weights back and the host grades them.
"""

from __future__ import annotations

import json
import math

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


def make_inputs(cfg: dict):
    classes = cfg["layers"][-1]

    def inputs(g: torch.Generator, scale: float):
        logits = (torch.randn(cfg["batch_size"], classes, generator=g) * scale).requires_grad_(True)
        targets = torch.randint(0, classes, (cfg["batch_size"],), generator=g)
        return [logits, targets], [logits]

    return inputs


def train(fn, cfg: dict, x: torch.Tensor, y: torch.Tensor) -> dict:
    runs = []
    for k, seed in enumerate(cfg["seeds"]):
        torch.manual_seed(seed)
        model = build_model(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        order = torch.Generator().manual_seed(seed)
        snapshots: dict[str, str] = {}
        losses: dict[str, float] = {}
        for epoch in range(1, cfg["epochs"] + 1):
            perm = torch.randperm(len(x), generator=order)
            total, steps = 0.0, 0
            for start in range(0, len(x), cfg["batch_size"]):
                idx = perm[start : start + cfg["batch_size"]]
                loss = fn(model(x[idx]), y[idx])
                if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                    raise harness.GateError(
                        f"during training the loss returned {type(loss).__name__} "
                        f"of shape {tuple(getattr(loss, 'shape', ()))}, expected a scalar"
                    )
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise harness.NonFiniteLoss(
                        f"the loss became {value} at seed {seed}, epoch {epoch}, step {steps + 1}"
                    )
                opt.zero_grad(set_to_none=True)
                loss.reshape(()).backward()
                opt.step()
                total += value
                steps += 1
            if epoch in cfg["sample_epochs"]:
                losses[str(epoch)] = total / steps
                if k == 0 and epoch != cfg["epochs"]:
                    snapshots[str(epoch)] = harness.encode(list(model.parameters()), "float16")
        runs.append(
            {
                "seed": seed,
                "weights": harness.encode(list(model.parameters())),
                "snapshots": snapshots,
                "losses": losses,
            }
        )
    return {"runs": runs}


def main() -> None:
    out = harness.take_stdout()
    harness.make_deterministic()
    with open("config.json", encoding="utf-8") as f:
        cfg = json.load(f)
    x = torch.from_numpy(np.load("x_train.npy")).float()
    y = torch.from_numpy(np.load("y_train.npy")).long()
    harness.run(out, lambda fn: train(fn, cfg, x, y), make_inputs(cfg))


if __name__ == "__main__":
    main()
