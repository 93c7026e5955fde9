"""Trusted side of a loss job: the trainer's half, which never shares a process with the candidate.

Shipped into the sandbox next to a task's trainer script, `peer.py` and `loss_server.py`. The trainer (this
process) holds the model, the optimiser, the data, the config (read from stdin, never from a file), the seeds
and the result channel (its stdout). The candidate loss runs in `loss_server.py`'s process and only ever sees
detached copies of the model's outputs; it answers [loss value, d loss / d each output], which this side
checks (dtype, exact shape, finite, bounded) before it calls `backward` on its own outputs with them. So a
candidate can still return any gradient for the outputs (that is what a loss is), but it cannot patch the
optimiser, edit the config, replace the training loop, see which seeds or split it is judged on, or write
the record: those are in a process it cannot reach (non-dumpable, see `peer.harden`).

The seeds a trainer uses are `peer.derive_seed(salt, seed)`: a keyed hash of the named seed, so nothing a
candidate observes (initial logits, batch order) can be matched to assay's public seed lists.

The host grades the weights reported here on data the job never had.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import math
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import peer
import torch

RESULT_MARK = "@@ASSAY-LOSS-RESULT@@"
SERVER_FILE = "loss_server.py"
CPU_FAULT = "more than its CPU budget"  # equal to loss_server.CPU_FAULT (that module imports torch)
#: a gradient entry above this overflows Adam's float32 second moment (g**2 > 3.4e38) or close to it
MAX_GRAD = 1e15
#: replies are one float and gradients of the outputs: a few hundred kB at most for these trainers
MAX_REPLY_BYTES = 4 << 20
#: CPU seconds the zygote may spend on top of one run's budget: importing torch (~1.7 s warm, ~3.5 s cold)
IMPORT_CPU_S = 30
GATE_SEED = 1234
GATE_SCALES = (1.0, 10.0)

Arg = tuple[Any, str]  # (tensor or float, "diff" | "const" | "float")


#: a frame of the candidate's own code in a trimmed traceback, and the source line printed under it
_FRAME = re.compile(r'File "[^"\n]*candidate\.py", line (\d+), in [^\n]*\n[ \t]+([^\n]*)')
#: exception text -> the fix a small model needs, said in one line (first match wins)
HINTS = (
    (
        "Boolean value of Tensor with more than one value is ambiguous",
        "an `if` (or and/or/not) on a tensor with several values: use torch.where(condition, a, b)",
    ),
    (
        r"must be Tensor, not (float|int)",
        "a Python number where torch expects a tensor: use math.* on numbers (e.g. math.log(beta)) or "
        "torch.as_tensor(x)",
    ),
    (
        r"not implemented for 'Long'",  # torch.rand_like(targets), torch.bernoulli(full_like(targets, p))
        "a random draw or a float operation on the int64 `targets`: draw from a float tensor, e.g. "
        "torch.rand(targets.shape) or torch.rand_like(logits[:, 0]), or use targets.float()",
    ),
    (
        r"'Tensor' object has no attribute 'astype'",
        "torch tensors change dtype with .float(), .long() or .to(dtype), not numpy's .astype",
    ),
    (
        r"expected target dtype to be Long|expected scalar type Long",
        "F.cross_entropy and F.nll_loss take class indices as int64: pass `targets` itself (or .long() "
        "indices you computed)",
    ),
    (
        r"only integer tensors of a single element can be converted to an index|"
        r"one_hot is only applicable to index tensor",
        "an index must be an int64 tensor (targets are already int64): do not convert it to float first",
    ),
    (
        r"The size of tensor a \(\d+\) must match the size of tensor b",
        "shapes do not broadcast: check each argument's shape in the signature (e.g. use "
        "F.one_hot(targets, num_classes) or logits.gather(1, targets[:, None]))",
    ),
)


def summarise(e: peer.CandidateRaised) -> str:
    """One line for the model: the candidate's own line that raised, its code, the error and a likely fix.

    The traceback is the candidate's (untrusted text, bounded by `peer`): it only shapes its own feedback."""
    frames = _FRAME.findall(e.traceback[-4000:])
    at = ""
    if frames:
        line, code = frames[-1]
        code = code.strip()
        at = f" at line {line} (`{code if len(code) <= 100 else code[:97] + '...'}`)"
    hint = next((fix for pattern, fix in HINTS if re.search(pattern, str(e))), "")
    text = f"{at}: {str(e)[:300]}" if at else f" {str(e)[:300]}"
    return text + (f"\nLikely fix: {hint}" if hint else "")


class GateError(Exception):
    """The candidate is not a well-formed loss; the message is shown to the model."""


class NonFiniteLoss(Exception):
    """The loss, its gradient or the weights became NaN, infinite or too large during training."""


def make_deterministic() -> None:
    """One thread and deterministic kernels, so the same candidate and seed give the same weights."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("\n" + RESULT_MARK + json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def encode(arrays: Sequence[torch.Tensor], dtype: str = "float32") -> str:
    """Parameters as one compact base64 string; the host knows the shapes from the fixed architecture."""
    flat = np.concatenate([a.detach().cpu().numpy().astype(dtype).ravel() for a in arrays])
    return base64.b64encode(zlib.compress(flat.tobytes(), 1)).decode("ascii")


#: the loss's name in every loss task's signature (`def loss(logits, targets)`, `def loss(policy_...)`)
SIGNATURE_NAME = "loss"


def public_callable(source: str) -> str:
    """The source's single public top-level function (or lambda, or class), or its function named as the
    signature names the loss when it has more public names; GateError saying why not.

    Parsing hostile text here executes none of it; the candidate's code only ever runs in its own process."""
    try:
        body = ast.parse(source).body
    except SyntaxError as e:
        text = (e.text or "").strip()  # the same words as the host's check (verifiers/loss/names.py)
        where = f"line {e.lineno}" + (f": `{text[:160]}`" if text else "")
        raise GateError(f"the code does not parse: {e.msg} ({where})") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise GateError(f"the code does not parse: {type(e).__name__}") from None
    names: list[str] = []
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
    names = [n for n in names if not n.startswith("_")]
    functions = [n.name for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if len(names) > 1 and functions.count(SIGNATURE_NAME) == 1:
        # the signature's own name settles which one is the loss: a 1.5B model wrote `class FocalLoss`
        # and a `def loss` that calls it (stop 30, twice), which "exactly one" rejected
        return SIGNATURE_NAME
    if len(names) != 1:
        raise GateError(
            f"define exactly one public loss function (found {len(names)}: {', '.join(names) or 'none'}); "
            "name helpers with a leading underscore or nest them inside the loss"
        )
    return names[0]


class Loss:
    """The candidate's loss as the trainer sees it: calls across the process boundary, replies checked."""

    def __init__(self, server: peer.Peer, name: str, cpu_s: int) -> None:
        self._peer = server
        self._name = name
        self._cpu_s = cpu_s
        #: where the candidate's process found the last non-finite value (its own line; feedback only)
        self.where = ""

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One seed's fresh candidate process (forked from the pristine zygote, see loss_server.py)."""
        try:
            self._peer.call((), kind="session", name=self._name, cpu_s=self._cpu_s)
        except peer.CandidateRaised as e:
            raise GateError(f"importing the code raised{summarise(e)}\n{e.traceback}") from None
        yield
        reply, _ = self._peer.call((), kind="end")
        if reply.get("ended") is not True:
            raise peer.CandidateFault("the loss's process did not end its session")

    def __call__(self, args: Sequence[Arg], what: str) -> tuple[float, list[np.ndarray], bool]:
        """Send the outputs; return the loss value, its gradients (exact dtype and shape) and whether any
        gradient was connected. Nothing here is trusted beyond its type and shape."""
        arrays, kinds, shapes = [], [], []
        for value, kind in args:
            if kind == "float":
                array = np.array([float(value)], dtype=np.float64)
            else:
                array = np.ascontiguousarray(value.detach().cpu().numpy())
                if kind == "diff":
                    shapes.append(array.shape)
            arrays.append(array)
            kinds.append(kind)
        reply, out = self._peer.call(arrays, kinds=kinds)
        where = reply.get("where")
        self.where = f": {where[:300]}" if isinstance(where, str) and where else ""
        if "bad" in reply:
            raise GateError(f"{what} {str(reply['bad'])[:500]}")
        ok = len(out) == 1 + len(shapes) and out[0].dtype == np.float64 and out[0].shape == (1,)
        ok = ok and all(g.dtype == np.float32 and g.shape == s for g, s in zip(out[1:], shapes, strict=False))
        if not ok:
            raise peer.CandidateFault("the loss's process sent a malformed reply")
        return float(out[0][0]), [np.array(g) for g in out[1:]], reply.get("connected") is True

    def backward(self, args: Sequence[Arg], where: str) -> float:
        """One training step's loss: checked, then `backward` on the trainer's own outputs."""
        value, grads, _ = self(args, "during training the loss")
        if not math.isfinite(value):
            raise NonFiniteLoss(f"the loss became {value} {where}{self.where}")
        for g in grads:
            if not np.isfinite(g).all():
                raise NonFiniteLoss(f"the loss's gradient became non-finite {where}")
            if g.size and float(np.abs(g).max()) > MAX_GRAD:
                raise NonFiniteLoss(f"the loss's gradient exceeded {MAX_GRAD:g} {where}")
        outputs = [v for v, kind in args if kind == "diff"]
        torch.autograd.backward(outputs, [torch.from_numpy(g) for g in grads])
        return value


def gate(loss: Loss, make_inputs: Callable[[torch.Generator, float], list[Arg]]) -> list[str]:
    """DiscoPOP's gate, driven from here: on random inputs of the right shape (this side's generator), a
    finite scalar with finite, non-zero gradients, at two scales. Raises GateError on the first failure."""
    findings: list[str] = []
    g = torch.Generator().manual_seed(GATE_SEED)
    for scale in GATE_SCALES:
        what = f"the loss on random inputs (scale {scale:g})"
        try:
            value, grads, connected = loss(make_inputs(g, scale), what)
        except peer.CandidateRaised as e:
            summary = summarise(e)  # names the candidate's line; the traceback only when it cannot
            located = summary.startswith(" at line ")
            raise GateError(f"{what} raised{summary}" + ("" if located else f"\n{e.traceback}")) from None
        if not math.isfinite(value):
            raise GateError(f"{what} returned a non-finite value ({value}){loss.where}")
        if not connected:
            raise GateError(f"{what} does not depend on the model outputs (no gradient)")
        if not all(np.isfinite(gr).all() for gr in grads):
            raise GateError(f"{what} has non-finite gradients")
        norm = math.sqrt(sum(float((gr.astype(np.float64) ** 2).sum()) for gr in grads))
        if norm == 0.0:
            raise GateError(f"{what} has zero gradient everywhere: it cannot train the model")
        findings.append(f"scale {scale:g}: loss {value:.4g}, gradient norm {norm:.3g}")
    return findings


class Trainer(Protocol):
    """What a task's trainer script provides (its module, passed to `main`)."""

    def load(self, cfg: dict[str, Any]) -> Any: ...

    def gate_inputs(self, cfg: dict[str, Any]) -> Callable[[torch.Generator, float], list[Arg]]: ...

    def train_seed(
        self, loss: Loss, cfg: dict[str, Any], data: Any, seed: int, rng_seed: int, first: bool
    ) -> Any: ...


def _train_all(
    loss: Loss, trainer: Trainer, cfg: dict[str, Any], data: Any, findings: list[str]
) -> dict[str, Any]:
    """Every seed in a fresh session of its own: the gate (the same on every seed), then training."""
    runs = []
    for k, seed in enumerate(cfg["seeds"]):
        with loss.session():
            seen = gate(loss, trainer.gate_inputs(cfg))
            if k == 0:
                findings.extend(seen)
                emit({"status": "gated", "gate": findings})  # the host tells a slow loss from a hung gate
            params, snapshots, losses = trainer.train_seed(
                loss, cfg, data, seed, peer.derive_seed(cfg["salt"], seed), k == 0
            )
        if not all(bool(torch.isfinite(p).all()) for p in params):
            raise NonFiniteLoss(f"the weights became non-finite at seed {seed}")
        runs.append({"seed": seed, "weights": encode(params), "snapshots": snapshots, "losses": losses})
    return {"status": "done", "gate": findings, "runs": runs}


def _outcome(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Every way the candidate can end a job, as the record's status; only this side's own bugs raise."""
    try:
        return run()
    except GateError as e:
        return {"status": "invalid", "reason": str(e)}
    except NonFiniteLoss as e:
        return {"status": "nonfinite", "reason": str(e)}
    except peer.CandidateRaised as e:
        return {"status": "error", "reason": f"training raised{summarise(e)}", "traceback": e.traceback}
    except peer.CandidateFault as e:
        status = "timeout" if CPU_FAULT in str(e) else "error"
        return {"status": status, "reason": str(e)}


def main(trainer: Trainer) -> None:
    """Config from stdin, data and code loaded, hardened, then the candidate's process started."""
    make_deterministic()
    cfg = peer.read_config()
    data = trainer.load(cfg)
    here = os.path.dirname(os.path.abspath(__file__))
    files = {name: Path(here, name).read_text(encoding="utf-8") for name in (SERVER_FILE, "peer.py")}
    files[peer.CANDIDATE_FILE] = str(cfg["candidate"])
    peer.harden()  # from here on nothing is read or imported from the job directory
    findings: list[str] = []

    def run() -> dict[str, Any]:
        name = public_callable(files[peer.CANDIDATE_FILE])
        cpu_s = int(cfg["candidate_cpu_s"])
        zygote_cpu_s = cpu_s + IMPORT_CPU_S
        with peer.Peer(SERVER_FILE, files, {}, cpu_s=zygote_cpu_s, max_reply_bytes=MAX_REPLY_BYTES) as server:
            return _train_all(Loss(server, name, cpu_s), trainer, cfg, data, findings)

    result = _outcome(run)
    if result["status"] != "done" and findings:
        result["gate"] = findings
    emit(result)
