"""Candidate losses that attack the trainer, each with the score or verdict it must not exceed.

The trusted trainer and the candidate run in two processes (verifiers/loss/shipped/): every attack below
worked while they shared one (issue 11: cross-entropy plus a patched Adam scored 0.86-0.93 on noisy-digits,
honest cross-entropy 0.65). Each attack wraps cross-entropy, so what it must score is exactly what honest
cross-entropy scores on the same seed: the trainer is deterministic, and the attack can change nothing but
the gradient it returns. Real trainer, real sandboxes (process and Docker), tiny configs.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from tasks.loss import known_losses
from tasks.loss.digits import DigitsConfig, NoisyDigits
from tasks.loss.limits import training_limits
from verifiers.loss.verifier import LossTrainingVerifier
from verifiers.peer import seed_salt

pytestmark = pytest.mark.requires_modules("numpy", "torch")

TINY = DigitsConfig(epochs=3, sample_epochs=(1, 3))
CE = known_losses.CROSS_ENTROPY
_honest: dict[int, Verdict] = {}


def verifier(sandbox: Sandbox, config: DigitsConfig = TINY, seeds=(0,), wall_s: float = 120.0):
    limits = training_limits(wall_s)
    problem = NoisyDigits(config)
    return LossTrainingVerifier(
        "loss-train:adversarial", problem, seeds=seeds, split="val", limits=limits, sandbox=sandbox
    )


async def check(sandbox: Sandbox, source: str, **kw) -> Verdict:
    return await verifier(sandbox, **kw).verify(Hypothesis.create(source))


async def honest(sandbox: Sandbox) -> Verdict:
    if id(sandbox) not in _honest:
        _honest[id(sandbox)] = await check(sandbox, CE)
    assert _honest[id(sandbox)].status is VerdictStatus.OK
    return _honest[id(sandbox)]


def with_ce(attack: str) -> str:
    """The attack at import time, then plain cross-entropy as the loss."""
    return f"import torch\nimport torch.nn.functional as F\n{attack}\n\ndef loss(logits, targets):\n" + (
        "    return F.cross_entropy(logits, targets)\n"
    )


PATCH_OPTIMISER = with_ce("""
_step = torch.optim.Adam.step
def _fast(self, *a, **k):
    for group in self.param_groups:
        group["lr"] = 0.05
    return _step(self, *a, **k)
torch.optim.Adam.step = _fast
torch.optim.Optimizer.zero_grad = lambda self, set_to_none=True: None
_backward = torch.Tensor.backward
torch.Tensor.backward = lambda self, *a, **k: _backward(self * 7, *a, **k)
""")

EDIT_FRAMES = with_ce("""
import gc, inspect, sys
def _edit():
    frames = []
    f = sys._getframe()
    while f is not None:
        frames.append(f)
        f = f.f_back
    frames += [i.frame for i in inspect.stack()]
    for f in frames:
        for v in list(f.f_locals.values()) + list(f.f_globals.values()):
            if isinstance(v, dict) and "lr" in v:
                v["lr"], v["epochs"] = 0.05, 200
    for o in gc.get_objects():
        if isinstance(o, dict) and ("lr" in o or "seeds" in o):
            o["lr"], o["seeds"] = 0.05, [0, 0, 0]
_edit()
""")

REPLACE_LOOP = with_ce("""
import sys
for _name, _mod in list(sys.modules.items()):
    for _attr in ("train_seed", "backward", "gate", "main", "emit", "Loss", "Adam"):
        if hasattr(_mod, _attr) and not _name.startswith(("torch", "candidate", "__main__")):
            try:
                setattr(_mod, _attr, lambda *a, **k: None)
            except Exception:
                pass
""")

# Writes a forged record everywhere it might reach the job's stdout; the host must never read it.
_FAKE = '"\\n@@ASSAY-LOSS-RESULT@@" + json.dumps({"status": "done", "gate": [], "runs": []}) + "\\n"'
FORGE = with_ce(f"""
import json, os
_fake = {_FAKE}
print(_fake)
def _targets():
    ppid = os.getppid()
    yield 1
    for pid in (ppid, int(open(f"/proc/{{ppid}}/stat").read().rsplit(")", 1)[1].split()[1])):
        for fd in range(0, 8):
            yield f"/proc/{{pid}}/fd/{{fd}}"
for _t in _targets():
    try:
        if isinstance(_t, int):
            os.write(_t, _fake.encode())
        else:
            with open(_t, "w") as _f:
                _f.write(_fake)
        os.write(2, f"WROTE {{_t}}\\n".encode())
    except OSError as e:
        os.write(2, f"DENIED {{_t}} {{type(e).__name__}}\\n".encode())
""")

KILL_PARENTS = """import os, signal
import torch.nn.functional as F


def loss(logits, targets):
    ppid = os.getppid()
    grand = int(open(f"/proc/{ppid}/stat").read().rsplit(")", 1)[1].split()[1])
    for pid in (grand, ppid):
        os.kill(pid, signal.SIGKILL)
    return F.cross_entropy(logits, targets)
"""

# Honest on the gate's two calls, then a crafted gradient through a custom autograd function.
CRAFTED_GRADIENT = """import torch
import torch.nn.functional as F

_calls = [0]


class _Bad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum() * 0

    @staticmethod
    def backward(ctx, g):
        return torch.full((100, 10), VALUE)


def loss(logits, targets):
    _calls[0] += 1
    ce = F.cross_entropy(logits, targets)
    return ce + _Bad.apply(logits) if _calls[0] > 2 else ce
"""

# Replaces the server's reply with arrays of the wrong shape or dtype, or a different count.
WRONG_REPLY = with_ce("""
import sys
import numpy as np
_server = sys.modules["__main__"]
def _lie(fn, header, arrays):
    return {"connected": True}, [np.zeros(1), *SHAPES]
_server._loss_call = _lie
""")

BURN_CPU = """import torch.nn.functional as F

_calls = [0]


def loss(logits, targets):
    _calls[0] += 1
    while _calls[0] > 2:
        pass
    return F.cross_entropy(logits, targets)
"""

# Plants modules in the job directory and its own; the trainer must import none of them after it starts.
PLANT = with_ce("""
import os
_bomb = "import os\\nos.write(2, b'PLANTED MODULE IMPORTED\\\\n')\\nos._exit(7)\\n"
for _dir in ("..", "."):
    for _name in ("json", "torch", "numpy", "harness", "peer", "base64", "zlib", "encodings", "site"):
        try:
            with open(os.path.join(_dir, _name + ".py"), "w") as _f:
                _f.write(_bomb)
        except OSError:
            pass
""")


ATTACKS = {
    "patch-optimiser": PATCH_OPTIMISER,
    "edit-frames": EDIT_FRAMES,
    "replace-loop": REPLACE_LOOP,
    "forge-record": FORGE,
    "plant-modules": PLANT,
}


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
async def test_attack_scores_exactly_honest_cross_entropy(sandbox: Sandbox, attack: str) -> None:
    v = await check(sandbox, attack)
    reference = await honest(sandbox)
    assert v.status is VerdictStatus.OK, v.feedback
    assert v.score == reference.score  # the same weights: the attack changed nothing in the trainer
    assert v.metrics["train_acc_noisy_labels"] == reference.metrics["train_acc_noisy_labels"]


async def test_killing_the_parents_is_the_candidates_error(sandbox: Sandbox) -> None:
    v = await check(sandbox, KILL_PARENTS)
    assert v.status is VerdictStatus.ERROR and v.score is None


@pytest.mark.parametrize(("value", "phrase"), [("float('nan')", "gradient became non-finite"),
                                               ("1e30", "gradient exceeded 1e+15")])  # fmt: skip
async def test_crafted_gradients_stop_training(sandbox: Sandbox, value: str, phrase: str) -> None:
    v = await check(sandbox, CRAFTED_GRADIENT.replace("VALUE", value))
    assert v.status is VerdictStatus.FAIL and v.score is None
    assert phrase in v.feedback and "at seed 0, epoch 1, step 1" in v.feedback


WRONG = [
    "np.zeros((100, 9), np.float32)",
    "np.zeros((100, 10))",
    "np.zeros((100, 10), np.float32), np.zeros(3)",
    "",
]


@pytest.mark.parametrize("shapes", WRONG)
async def test_a_malformed_reply_is_the_candidates_error(sandbox: Sandbox, shapes: str) -> None:
    v = await check(sandbox, WRONG_REPLY.replace("*SHAPES", shapes))
    assert v.status is VerdictStatus.ERROR and v.score is None
    assert "malformed reply" in v.feedback


async def test_exceeding_the_cpu_budget_is_a_timeout(sandbox: Sandbox) -> None:
    v = await check(sandbox, BURN_CPU, config=replace(TINY, candidate_cpu_s=2), wall_s=60.0)
    assert v.status is VerdictStatus.TIMEOUT and v.score is None
    assert "more than its CPU budget (2 s" in v.feedback


# Everything a candidate can look at that might tell search from held-out, each path's content hashed.
SPY = with_ce("""
import hashlib, os, re
def _look(path):
    try:
        if os.path.isdir(path):
            return "dir:" + ",".join(sorted(n for n in os.listdir(path) if not n.startswith("cand-")))
        with open(path, "rb") as f:
            data = f.read(1 << 24)
    except OSError as e:
        return "denied:" + type(e).__name__
    data = data.replace(os.path.abspath("..").encode(), b"JOB")  # the job's (random) directory
    data = re.sub(rb"cand-\\w+", b"cand-*", data)  # and the candidate's
    found = [w for w in (b'"seeds": [', b'"salt": ', b'"candidate": ') if w in data]
    return hashlib.sha256(data).hexdigest()[:12] + (" FOUND " + repr(found) if found else "")
_ppid = os.getppid()
_grand = int(open(f"/proc/{_ppid}/stat").read().rsplit(")", 1)[1].split()[1])
_seen = {"job": _look(".."), "here": _look("."), "env": sorted(os.environ)}
for _name in sorted(os.listdir("..")):
    if not _name.startswith("cand-"):
        _seen["job/" + _name] = _look(os.path.join("..", _name))
for _who, _pid in (("zygote", _ppid), ("trainer", _grand)):
    for _part in ("environ", "cmdline", "mem", "fd", "cwd", "maps"):
        _seen[_who + "/" + _part] = _look(f"/proc/{_pid}/{_part}")
os.write(2, ("SPY " + json.dumps(_seen, sort_keys=True) + "\\n").encode())
""").replace("import torch\n", "import json\nimport torch\n", 1)


def _spied(stderr: str) -> dict:
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("SPY ")]
    return json.loads(line[4:])


async def test_search_and_held_out_look_the_same_to_the_candidate(sandbox: Sandbox) -> None:
    search = verifier(sandbox, seeds=(0,))
    held = LossTrainingVerifier(
        "loss-train:adversarial:test", NoisyDigits(TINY), seeds=(100,), split="test",
        limits=training_limits(120.0), sandbox=sandbox,
    )  # fmt: skip
    seen = []
    for v in (search, held):
        result = await sandbox.run(v.job(SPY))
        assert v.judge(result).status is VerdictStatus.OK
        seen.append(_spied(result.stderr))
        assert seed_salt() not in result.stderr
    assert seen[0] == seen[1]
    text = json.dumps(seen[0])
    assert "FOUND" not in text and "config.json" not in text
    assert seen[0]["trainer/environ"].startswith("denied") and seen[0]["trainer/mem"].startswith("denied")
