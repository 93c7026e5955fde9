"""Sandbox-side trainer for `loss/preference`: DPO-style offline preference optimisation of a small policy.

The trusted half of the job (see `harness.py`). The policy starts as the reference policy; each step sends
the candidate loss (in its own process) the policy's and the frozen reference's log-probabilities of a batch
of (chosen, rejected) responses, and backpropagates the gradient it returns through the policy itself. Only
the training pairs are here: the host evaluates the returned policy, and half-precision snapshots taken at
the sampled epochs (for the per-epoch feedback), against contexts and rewards this job never sees.
"""

from __future__ import annotations

import sys

import harness
import numpy as np
import torch
from torch import nn


def load(cfg: dict) -> dict[str, object]:
    """Everything from the job directory, read before the trainer hardens (nothing is read after)."""
    ref = [
        (np.load(f"ref_w{i}.npy", allow_pickle=False), np.load(f"ref_b{i}.npy", allow_pickle=False))
        for i in range(2)
    ]
    x = torch.from_numpy(np.load("x_train.npy", allow_pickle=False)).float()
    chosen = torch.from_numpy(np.load("chosen.npy", allow_pickle=False)).long()
    rejected = torch.from_numpy(np.load("rejected.npy", allow_pickle=False)).long()
    return {"ref": ref, "x": x, "chosen": chosen, "rejected": rejected}


def build_policy(cfg: dict, ref: list[tuple[np.ndarray, np.ndarray]]) -> nn.Sequential:
    d, h, k = cfg["layers"]
    model = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))
    with torch.no_grad():
        for (w, b), layer in zip(ref, (model[0], model[2]), strict=True):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return model


def gate_inputs(cfg: dict):
    def inputs(g: torch.Generator, scale: float) -> list[harness.Arg]:
        n = cfg["batch_size"]

        def logps() -> torch.Tensor:
            return -(torch.rand(n, generator=g) * scale + 0.1)

        pc, pr = logps(), logps()
        return [(pc, "diff"), (pr, "diff"), (logps(), "const"), (logps(), "const"), (cfg["beta"], "float")]

    return inputs


def train_seed(loss: harness.Loss, cfg: dict, data: dict, seed: int, rng_seed: int, first: bool):
    """One seeded run; `seed` only names it in messages, `rng_seed` is what the RNGs get."""
    x, chosen, rejected = data["x"], data["chosen"], data["rejected"]
    ref = build_policy(cfg, data["ref"]).requires_grad_(False)
    with torch.no_grad():
        ref_lp = torch.log_softmax(ref(x), dim=-1)
    ref_c, ref_r = ref_lp.gather(1, chosen[:, None])[:, 0], ref_lp.gather(1, rejected[:, None])[:, 0]
    torch.manual_seed(rng_seed)
    policy = build_policy(cfg, data["ref"])
    opt = torch.optim.Adam(policy.parameters(), lr=cfg["lr"])
    order = torch.Generator().manual_seed(rng_seed)
    losses: dict[str, float] = {}
    snapshots: dict[str, str] = {}
    for epoch in range(1, cfg["epochs"] + 1):
        perm = torch.randperm(len(x), generator=order)
        total, steps = 0.0, 0
        for start in range(0, len(x), cfg["batch_size"]):
            idx = perm[start : start + cfg["batch_size"]]
            opt.zero_grad(set_to_none=True)
            lp = torch.log_softmax(policy(x[idx]), dim=-1)
            pc = lp.gather(1, chosen[idx, None])[:, 0]
            pr = lp.gather(1, rejected[idx, None])[:, 0]
            args = [
                (pc, "diff"),
                (pr, "diff"),
                (ref_c[idx], "const"),
                (ref_r[idx], "const"),
                (cfg["beta"], "float"),
            ]
            total += loss.backward(args, f"at seed {seed}, epoch {epoch}, step {steps + 1}")
            opt.step()
            steps += 1
        if epoch in cfg["sample_epochs"]:
            losses[str(epoch)] = total / steps
            if epoch != cfg["epochs"]:  # the final weights go back in full precision anyway
                snapshots[str(epoch)] = harness.encode(list(policy.parameters()), "float16")
    return list(policy.parameters()), snapshots, losses


if __name__ == "__main__":
    harness.main(sys.modules[__name__])  # type: ignore[arg-type]
