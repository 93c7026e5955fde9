"""Sandbox-side harness shared by the loss trainers: load the candidate, gate it, report back.

This file is shipped *into* the sandbox next to a task's trainer script and runs there, in the same process as
the untrusted candidate. It therefore only needs the standard library, numpy and torch, and it never decides
a score: it reports trained weights and the host grades them on data the job never saw. Anything the
candidate forges here can at most change the weights it hands back, which the host then measures honestly.
"""

from __future__ import annotations

import ast
import base64
import json
import math
import os
import sys
import traceback
import types
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

RESULT_MARK = "@@ASSAY-LOSS-RESULT@@"
CANDIDATE_FILE = "candidate.py"


class GateError(Exception):
    """The candidate is not a well-formed loss; the message is shown to the model."""


class NonFiniteLoss(Exception):
    """The loss became NaN or infinite during training."""


def make_deterministic() -> None:
    """One thread and deterministic kernels, so the same candidate and seed give the same weights."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def take_stdout() -> Any:
    """Keep the real stdout for the result and point fd 1 at stderr, so candidate prints cannot mix in."""
    sys.stdout.flush()
    real = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return real


def emit(out: Any, result: dict[str, Any]) -> None:
    out.write("\n" + RESULT_MARK + json.dumps(result, separators=(",", ":")) + "\n")
    out.flush()


def encode(arrays: Sequence[torch.Tensor], dtype: str = "float32") -> str:
    """Parameters as one compact base64 string; the host knows the shapes from the fixed architecture."""
    flat = np.concatenate([a.detach().cpu().numpy().astype(dtype).ravel() for a in arrays])
    return base64.b64encode(zlib.compress(flat.tobytes(), 1)).decode("ascii")


def _public_callables(source: str) -> list[str]:
    """Top-level functions, lambdas and classes the source defines; `_private` helpers do not count."""
    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
    return [n for n in names if not n.startswith("_")]


def load_candidate(path: str = CANDIDATE_FILE) -> Callable[..., Any]:
    """Import the candidate and return its single public callable, or raise GateError saying why not."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        names = _public_callables(source)
    except SyntaxError as e:
        raise GateError(f"the code does not parse: {e.msg} (line {e.lineno})") from None
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise GateError(
            f"define exactly one public loss function (found {len(names)}: {found}); "
            "name helpers with a leading underscore or nest them inside the loss"
        )
    module = types.ModuleType("candidate")
    module.__file__ = path
    sys.modules["candidate"] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except Exception as e:
        raise GateError(f"importing the code raised {type(e).__name__}: {e}\n{short_traceback()}") from None
    fn = module.__dict__.get(names[0])
    if not callable(fn):
        raise GateError(f"{names[0]!r} is not callable")
    return fn


def check_scalar(value: Any, what: str) -> torch.Tensor:
    """The loss must be a finite 0-dim (or one-element) tensor; say precisely what it was instead."""
    if not isinstance(value, torch.Tensor):
        raise GateError(f"{what} returned {type(value).__name__}, expected a scalar torch.Tensor")
    if value.numel() != 1:
        raise GateError(
            f"{what} returned a tensor of shape {tuple(value.shape)}, expected a scalar: "
            "reduce it (e.g. .mean())"
        )
    if not value.is_floating_point():
        raise GateError(f"{what} returned dtype {value.dtype}, expected a floating-point scalar")
    if not math.isfinite(float(value.detach())):
        raise GateError(f"{what} returned a non-finite value ({float(value.detach())})")
    if not value.requires_grad:
        raise GateError(f"{what} returned a value with no gradient: it must be computed from the inputs")
    return value.reshape(())


def gate(
    fn: Callable[..., Any],
    make_inputs: Callable[[torch.Generator, float], tuple[list[Any], list[torch.Tensor]]],
) -> list[str]:
    """DiscoPOP's gate: on random inputs of the right shape, a finite scalar with finite, non-zero gradients.

    `make_inputs(generator, scale)` returns the call arguments and the tensors that need gradients. Raises
    GateError on the first failure; returns the findings to show as feedback when all checks pass.
    """
    findings: list[str] = []
    g = torch.Generator().manual_seed(1234)
    for scale in (1.0, 10.0):
        args, leaves = make_inputs(g, scale)
        what = f"the loss on random inputs (scale {scale:g})"
        try:
            value = check_scalar(fn(*args), what)
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
        except GateError:
            raise
        except Exception as e:
            raise GateError(f"{what} raised {type(e).__name__}: {e}\n{short_traceback()}") from None
        if all(gr is None for gr in grads):
            raise GateError(f"{what} does not depend on the model outputs (no gradient)")
        for gr in grads:
            if gr is not None and not torch.isfinite(gr).all():
                raise GateError(f"{what} has non-finite gradients")
        norm = math.sqrt(sum(float((gr**2).sum()) for gr in grads if gr is not None))
        if norm == 0.0:
            raise GateError(f"{what} has zero gradient everywhere: it cannot train the model")
        findings.append(f"scale {scale:g}: loss {float(value.detach()):.4g}, gradient norm {norm:.3g}")
    return findings


def short_traceback(limit: int = 4000) -> str:
    """The current exception's traceback, cut to the end that matters, with harness frames kept out."""
    text = "".join(traceback.format_exc())
    return text if len(text) <= limit else "..." + text[-limit:]


def run(out: Any, body: Callable[[Callable[..., Any]], dict[str, Any]], make_inputs: Any) -> None:
    """Gate the candidate, then train with it; every outcome becomes one result record on `out`."""
    try:
        fn = load_candidate()
        findings = gate(fn, make_inputs)
    except GateError as e:
        emit(out, {"status": "invalid", "reason": str(e)})
        return
    emit(out, {"status": "gated", "gate": findings})  # lets the host tell a slow loss from a hung gate
    try:
        result = body(fn)
    except NonFiniteLoss as e:
        emit(out, {"status": "nonfinite", "reason": str(e), "gate": findings})
        return
    except GateError as e:
        emit(out, {"status": "invalid", "reason": str(e), "gate": findings})
        return
    except Exception as e:
        emit(
            out,
            {
                "status": "error",
                "reason": f"training raised {type(e).__name__}: {e}",
                "traceback": short_traceback(),
                "gate": findings,
            },
        )
        return
    emit(out, {"status": "done", "gate": findings, **result})
