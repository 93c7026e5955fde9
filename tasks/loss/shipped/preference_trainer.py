"""Sandbox-side trainer for `loss/preference`: DPO-style offline preference optimisation of a small policy.

The policy starts as the reference policy; each step scores a batch of (context, chosen, rejected) pairs with
the candidate loss on the policy's and the frozen reference's log-probabilities. Only the training pairs are
here: the host evaluates the returned policy, and half-precision snapshots taken at the sampled epochs (for
the per-epoch feedback), against contexts and rewards this job never sees.
"""

from __future__ import annotations

import json
import math

import harness
import numpy as np
import torch
from torch import nn


def build_policy(cfg: dict) -> nn.Sequential:
    d, h, k = cfg["layers"]
    model = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))
    with torch.no_grad():
        for i, layer in enumerate((model[0], model[2])):
            layer.weight.copy_(torch.from_numpy(np.load(f"ref_w{i}.npy")))
            layer.bias.copy_(torch.from_numpy(np.load(f"ref_b{i}.npy")))
    return model


def make_inputs(cfg: dict):
    def inputs(g: torch.Generator, scale: float):
        n = cfg["batch_size"]

        def logps() -> torch.Tensor:
            return -(torch.rand(n, generator=g) * scale + 0.1)

        pc, pr = logps().requires_grad_(True), logps().requires_grad_(True)
        return [pc, pr, logps(), logps(), cfg["beta"]], [pc, pr]

    return inputs


def train(fn, cfg: dict, x: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor) -> dict:
    ref = build_policy(cfg).requires_grad_(False)
    with torch.no_grad():
        ref_lp = torch.log_softmax(ref(x), dim=-1)
    ref_c, ref_r = ref_lp.gather(1, chosen[:, None])[:, 0], ref_lp.gather(1, rejected[:, None])[:, 0]
    runs = []
    for seed in cfg["seeds"]:
        torch.manual_seed(seed)
        policy = build_policy(cfg)
        opt = torch.optim.Adam(policy.parameters(), lr=cfg["lr"])
        order = torch.Generator().manual_seed(seed)
        losses: dict[str, float] = {}
        snapshots: dict[str, str] = {}
        for epoch in range(1, cfg["epochs"] + 1):
            perm = torch.randperm(len(x), generator=order)
            total, steps = 0.0, 0
            for start in range(0, len(x), cfg["batch_size"]):
                idx = perm[start : start + cfg["batch_size"]]
                lp = torch.log_softmax(policy(x[idx]), dim=-1)
                pc = lp.gather(1, chosen[idx, None])[:, 0]
                pr = lp.gather(1, rejected[idx, None])[:, 0]
                loss = fn(pc, pr, ref_c[idx], ref_r[idx], cfg["beta"])
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
                if epoch != cfg["epochs"]:  # the final weights go back in full precision anyway
                    snapshots[str(epoch)] = harness.encode(list(policy.parameters()), "float16")
        runs.append(
            {
                "seed": seed,
                "weights": harness.encode(list(policy.parameters())),
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
    chosen = torch.from_numpy(np.load("chosen.npy")).long()
    rejected = torch.from_numpy(np.load("rejected.npy")).long()
    harness.run(out, lambda fn: train(fn, cfg, x, chosen, rejected), make_inputs(cfg))


if __name__ == "__main__":
    main()
