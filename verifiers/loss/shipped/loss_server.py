"""The candidate loss's own process: model outputs in, [loss value, d loss / d each output] back.

Shipped into the loss job's sandbox and started by the trusted trainer through `peer.Peer` (see peer.py for
the threat model). The trainer keeps the model, the optimiser, the data, the seeds and the result channel;
this process only ever sees detached copies of the model's outputs (logits and targets, or
log-probabilities) and answers with arrays the trainer checks before it calls `outputs.backward(grad)` itself.

One process per job imports torch once (about 1.7 CPU s) and then never runs candidate code: it is a pristine
zygote. For each seed the trainer opens a *session*, and the zygote forks a fresh child that loads the
candidate, answers that seed's calls (the gate's, then training's) and exits. So no memory survives from one
seed to the next (a module-level counter restarts at every seed, and a seed's result does not depend on the
order the seeds ran in), at the cost of one fork instead of one torch import per seed. The zygote is
non-dumpable, so a child cannot reach into it and leave state for the next child; each child gets a CPU
budget of its own (RLIMIT_CPU: the counter restarts at fork), the same on every split; the zygote's own
limit (passed by `Peer`) is that budget plus room for its torch import.

Runs as `python3 -I -B loss_server.py <in-fd> <out-fd> <cpu-s>` from its private directory.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contextlib
import linecache
import math
import resource
import signal
from typing import Any

import numpy as np
import peer
import torch
import torch.nn.functional as F

#: the phrase the trusted side reads as "over its CPU budget" (a timeout verdict, not an error)
CPU_FAULT = "more than its CPU budget"
#: what the prompt promises is in the loss module's scope before its code runs (equal to
#: verifiers/loss/names.SCOPE_NAMES, which checks names on the host); the candidate's own binding of a name
#: wins, since its code runs after. The modules are the ones this process imported: the candidate could
#: import them itself, so binding them reaches nothing it could not.
SCOPE_NAMES = ("torch", "F", "math", "np")
SCOPE = dict(zip(SCOPE_NAMES, (torch, F, math, np), strict=True))


def _where(line: int | None) -> str:
    """`line 7 (`code`)` for feedback: the candidate's own line, so a small model can find what to fix."""
    if not line:
        return "the loss"
    code = linecache.getline(os.path.abspath(peer.CANDIDATE_FILE), line).strip()
    code = code if len(code) <= 100 else code[:97] + "..."
    return f"line {line} (`{code}`)" if code else f"line {line}"


def _scalar_problem(value: object, line: int | None) -> str | None:
    """Why `value` is not a usable loss, in words naming the candidate's return line; None when it is one."""
    at = _where(line)
    if not isinstance(value, torch.Tensor):
        hint = " (torch.tensor(x) has no gradient: compute it from the arguments)" if _number(value) else ""
        return f"returned {type(value).__name__} at {at}, expected a scalar torch.Tensor{hint}"
    if value.numel() != 1:
        shape = tuple(value.shape)
        return f"returned a tensor of shape {shape} at {at}, expected a scalar: reduce it (e.g. .mean())"
    if not value.is_floating_point():
        return f"returned dtype {value.dtype} at {at}, expected a floating-point scalar"
    if not value.requires_grad:
        return f"returned a value with no gradient at {at}: it must be computed from the inputs"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _call_tracking_return(fn: Any, args: list[Any]) -> tuple[Any, int | None]:
    """Call the loss and note the line its own frame returned from (a profile hook: call/return events
    only, cheap next to a torch op), so a bad return value is reported at the candidate's `return`."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return fn(*args), None
    seen: list[int] = []

    def hook(frame: Any, event: str, arg: object) -> None:
        if event == "return" and frame.f_code is code:
            seen.append(frame.f_lineno)

    sys.setprofile(hook)
    try:
        value = fn(*args)
    finally:
        sys.setprofile(None)
    return value, seen[-1] if seen else None


def _bad(value: object) -> str | None:
    """'nan' or 'inf' when `value` is a float tensor holding one (the first kind found), else None."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.numel() > 1 << 22:
        return None
    with torch.no_grad():
        if bool(torch.isnan(value).any()):
            return "nan"
        if bool(torch.isinf(value).any()):
            return "inf"
    return None


def _locate_nonfinite(fn: Any, args: list[Any]) -> str:
    """Run the loss once more under a line tracer and name the first candidate line whose assignment made
    a local tensor nan or inf (or the return line, for an expression returned directly). Only on the way
    to a failing verdict, at most once per seed: its cost is the candidate's, and it is feedback only."""
    filename = os.path.abspath(peer.CANDIDATE_FILE)
    found: list[str] = []
    last: dict[int, int] = {}
    known: dict[int, set[str]] = {}

    def scan(frame: Any) -> None:
        bad = known.setdefault(id(frame), set())
        for name, value in list(frame.f_locals.items()):
            kind = _bad(value)
            if kind and name not in bad:
                bad.add(name)
                if id(frame) in last and not found:
                    found.append(f"{_where(last[id(frame)])} made `{name}` {kind}")

    def tracer(frame: Any, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != filename or found:
            return None
        if event == "call":
            scan(frame)  # the arguments: already bad ones are not the candidate's doing
        elif event in ("line", "return"):
            scan(frame)
            if event == "return" and not found and _bad(arg):
                found.append(f"{_where(frame.f_lineno)} returned {_bad(arg)}")
            last[id(frame)] = frame.f_lineno
        return tracer

    sys.settrace(tracer)
    try:
        fn(*args)
    except BaseException:
        pass
    finally:
        sys.settrace(None)
    return found[0] if found else ""


def _loss_call(fn: Any, header: dict[str, Any], arrays: list[np.ndarray]) -> tuple[dict, list[np.ndarray]]:
    """Call the loss on the trainer's outputs and differentiate it with respect to the `diff` ones."""
    kinds = header.get("kinds")
    if not isinstance(kinds, list) or len(kinds) != len(arrays):
        raise peer.CandidateFault("malformed call")
    args: list[Any] = []
    leaves: list[torch.Tensor] = []
    for kind, array in zip(kinds, arrays, strict=True):
        if kind == "float":
            if array.size != 1:
                raise peer.CandidateFault("malformed call")
            args.append(float(array.reshape(-1)[0]))
            continue
        tensor = torch.from_numpy(array.copy())
        if kind == "diff":
            tensor.requires_grad_(True)
            leaves.append(tensor)
        args.append(tensor)
    # a copy for `_locate_nonfinite`'s rerun, since the loss may change its arguments in place
    fresh = [a.detach().clone().requires_grad_(a.requires_grad) if torch.is_tensor(a) else a for a in args]
    value, line = _call_tracking_return(fn, args)
    problem = _scalar_problem(value, line)
    if problem is not None:
        return {"bad": problem}, []
    scalar = value.reshape(())
    try:
        grads = torch.autograd.grad(scalar, leaves, allow_unused=True)
    except RuntimeError as e:  # e.g. an in-place change of a saved tensor: its traceback is only ours
        why = f"returned at {_where(line)} a value that autograd cannot differentiate: {e}"
        return {"bad": why[:600]}, []
    connected = any(g is not None for g in grads)
    out = [np.array([float(scalar.detach())], dtype=np.float64)]  # 1-d: peer's wire makes 0-d arrays 1-d
    out += [
        (torch.zeros_like(t) if g is None else g).detach().float().numpy()
        for t, g in zip(leaves, grads, strict=True)
    ]
    reply: dict[str, Any] = {"connected": connected}
    if not math.isfinite(float(out[0][0])):
        reply["where"] = _locate_nonfinite(fn, fresh)
    return reply, out


def _session(fd_in: int, fd_out: int, name: str, cpu_s: int) -> None:
    """A forked child: load the candidate afresh and answer this seed's calls until the trainer ends it.

    Its CPU counter restarts at fork; the budget is set before a line of the candidate runs, hard limit
    included, so it cannot be raised again."""
    peer.limit_cpu(cpu_s)
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    try:
        namespace = peer.load_candidate(dict(SCOPE))
        fn = namespace.get(name)
        if not callable(fn):
            raise TypeError(f"{name!r} is not callable")
    except BaseException as e:
        tb = peer.candidate_traceback()
        peer.write_message(fd_out, {"exception": f"{type(e).__name__}: {e}", "traceback": tb})
        return
    peer.write_message(fd_out, {"ready": True})
    while True:
        try:
            header, arrays = peer.read_message(fd_in, 1 << 26)
        except (EOFError, peer.CandidateFault):
            return
        if header.get("kind") == "end":
            return
        try:
            reply, out = _loss_call(fn, header, arrays)
        except peer.CandidateFault as e:
            reply, out = {"fault": str(e)}, []
        except BaseException as e:
            reply = {"exception": f"{type(e).__name__}: {e}", "traceback": peer.candidate_traceback()}
            out = []
        peer.write_message(fd_out, reply, out)


def _ended(status: int, usage: resource.struct_rusage, cpu_s: int) -> str | None:
    """None for a session that ended when told to; otherwise why it did not, for the model."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    used = usage.ru_utime + usage.ru_stime
    if used >= cpu_s or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU):
        return f"the loss used {CPU_FAULT} ({cpu_s} s of CPU time for one training run)"
    how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
    return f"the loss's process ended ({how})"


def setup(init: dict[str, Any]) -> tuple[peer.Handler, dict[str, Any]]:
    """The zygote: one deterministic torch thread, non-dumpable, and a handler forking one child per seed."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    peer.harden()
    fd_in, fd_out, zygote_cpu_s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

    def handle(header: dict[str, Any], arrays: list[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        if header.get("kind") != "session":
            raise peer.CandidateFault("expected a session")
        name = str(header.get("name", "loss"))
        cpu_s = header.get("cpu_s")
        if type(cpu_s) is not int or not 0 < cpu_s <= zygote_cpu_s:
            raise peer.CandidateFault("malformed session")
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            code = 0
            try:
                _session(fd_in, fd_out, name, cpu_s)
            except BaseException:
                code = 1
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        _, status, usage = os.wait4(child, 0)
        why = _ended(status, usage, cpu_s)
        if why is None:
            return {"ended": True}, []
        # The child may have died half-way through a message: say why, then end the stream for good.
        peer.write_message(fd_out, {"fault": why})
        os._exit(0)

    return handle, {"torch": torch.__version__}


if __name__ == "__main__":
    peer.serve(setup)
