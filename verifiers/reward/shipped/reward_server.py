"""The candidate reward's own process: batches of (obs, action, next_obs, done) in, (reward, components) out.

Shipped into the reward job's sandbox and started by the trusted runner (`runner.py`) through `peer.Peer`,
one fresh process per seed (see peer.py for the threat model). The runner keeps the simulator, the trainer,
the seeds, the policy and the result channel; this process only ever sees copies of one step's arrays and
answers with numbers the runner checks again before the trainer uses them. Everything this file checks is
for the model's feedback only (a friendly "shape (16, 2)"): the candidate can replace this file's code in
its own process, so the runner trusts none of it.

On top of peer's CPU budget, before the candidate's module runs this process may no longer fork or start
threads (RLIMIT_NPROC; no daemon outlives its seed to carry state to the next one) nor write a byte to any
file (RLIMIT_FSIZE 0: no `json.py` dropped into the job directory, no notes left for the next seed).

The call path skips JSON (it runs ~10,000 times per seed). A call is one write of a fixed header
`CALL = <op, n, width, action dtype code>` then obs (n, width) float64, action (n,), next_obs (n, width)
float64, done (n,) bool. A reply is `REPLY = <status, k, names bytes>`, then the component names (each a
length byte and UTF-8), zero-padded to 8 bytes, then (1 + k) * n float64: the reward, then each component.
A status other than OK carries a JSON object instead of names ({"fault": ...} or {"exception": ...,
"traceback": ...}) and no values. The runner bounds every length before it reads a byte of the rest.

Runs as `python3 -I -B reward_server.py <in-fd> <out-fd> <cpu-s>` from its private directory.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import copy
import json
import resource
import struct
from typing import Any

import dry_run
import numpy as np
import peer

CALL = struct.Struct("<IIIB")
REPLY = struct.Struct("<III")
OP_CALL = 1
OK, FAULT = 0, 1
#: action dtypes by code (the runner sends the trainer's own dtype: int64 for discrete, float64 otherwise)
ACTION_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_))
MAX_COMPONENTS = 16
MAX_NAME = 40


def environment_constants(module: object) -> dict[str, Any]:
    """Copies of the simulator's upper-case constants (GOAL_POSITION, MAX_SPEED, ...) for the candidate.

    The model reads the simulator's source and naturally writes `GOAL_POSITION` in its reward; the names are
    defined for it (from this process's own copy of sim.py: the trainer's is in another process). Of the
    functions only those the simulator lists in OBS_HELPERS are (`environment_scope`): the others take
    internal states, while compute_reward sees observations.
    """
    return {
        name: copy.deepcopy(value)
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, int | float | dict | np.ndarray)
    }


def environment_scope(module: object) -> dict[str, Any]:
    """What the candidate's module finds already defined: numpy as `np`, the simulator's constants and the
    functions it lists in OBS_HELPERS (those that work on observations), all from this process's copy.

    The candidate's own definitions run after, so a name it defines itself is its own. Nothing here reaches
    the trainer: it lives in another process (the candidate may edit these copies; only it would notice)."""
    helpers = {name: getattr(module, name) for name in getattr(module, "OBS_HELPERS", ())}
    return {"np": np, "numpy": np, **environment_constants(module), **helpers}


def _vector(value: object, n: int, name: object = None) -> bytes:
    """`value` as n float64 values (shape (n,), (n, 1) or a scalar, broadcast), as bytes."""
    if type(value) is np.ndarray and value.dtype.char == "d" and value.shape == (n,):
        return value.tobytes()  # the common case, fast
    what = "the reward" if name is None else f"component {name!r}"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise peer.CandidateFault(f"{what} is not numeric ({type(value).__name__}: {exc})") from None
    if arr.shape not in ((), (n,), (n, 1)):
        raise peer.CandidateFault(f"{what} has shape {arr.shape}; expected ({n},), one value per environment")
    return np.full(n, arr.item()).tobytes() if arr.ndim == 0 else arr.reshape(n).tobytes()


class Replies:
    """Packs the candidate's results; the encoded component names are kept while they stay the same."""

    def __init__(self) -> None:
        self.keys: tuple[object, ...] | None = None
        self.names = b""

    def pack(self, out: object, n: int) -> bytes:
        """The reply to one call: validated here for the feedback's sake, checked again by the runner."""
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise peer.CandidateFault(
                "compute_reward must return a tuple (reward, components) with components a dict of "
                f"name -> per-environment values; it returned {type(out).__name__}"
            )
        components = out[1]
        keys = tuple(components)
        if keys != self.keys:
            self.names, self.keys = _names(keys), keys
        parts = [REPLY.pack(OK, len(keys), len(self.names)), self.names, _vector(out[0], n)]
        parts += [_vector(value, n, name) for name, value in components.items()]
        return b"".join(parts)


def _names(keys: tuple[object, ...]) -> bytes:
    if len(keys) > MAX_COMPONENTS:
        raise peer.CandidateFault(f"at most {MAX_COMPONENTS} reward components, got {len(keys)}")
    names = bytearray()
    for name in keys:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise peer.CandidateFault(f"component names must be strings of 1-{MAX_NAME} characters: {name!r}")
        raw = name.encode("utf-8", "replace")
        names += bytes([len(raw)]) + raw
    return bytes(names + b"\0" * (-len(names) % 8))


def _fault(reply: dict[str, Any]) -> bytes:
    raw = json.dumps(reply).encode()
    return REPLY.pack(FAULT, 0, len(raw)) + raw


def _calls(fd_in: int, fd_out: int, fn: Any) -> None:
    """Answer calls until the runner closes the pipe (or sends something this side does not understand)."""
    replies = Replies()
    names = dry_run.observation_names(fn)
    while True:
        # at most 64 KiB at once: a larger read buffer is mmap'd and unmapped on every call (~80 us here)
        data = os.read(fd_in, 1 << 16)
        if len(data) < CALL.size:
            return
        op, n, width, code = CALL.unpack_from(data)
        if op != OP_CALL or code >= len(ACTION_DTYPES):
            return
        adt = ACTION_DTYPES[code]
        at_action = CALL.size + 8 * n * width
        at_next = at_action + adt.itemsize * n
        at_done = at_next + 8 * n * width
        if len(data) < at_done + n:
            chunks, have = [data], len(data)
            while have < at_done + n:
                chunk = os.read(fd_in, min(at_done + n - have, 1 << 16))
                if not chunk:
                    return
                chunks.append(chunk)
                have += len(chunk)
            data = b"".join(chunks)
        # views of the bytes: read-only, so a reward that writes into its inputs raises (as it did in-process)
        obs = np.frombuffer(data, np.float64, n * width, CALL.size).reshape(n, width)
        action = np.frombuffer(data, adt, n, at_action)
        next_obs = np.frombuffer(data, np.float64, n * width, at_next).reshape(n, width)
        done = np.frombuffer(data, np.bool_, n, at_done)
        try:
            reply = replies.pack(fn(obs, action, next_obs, done), n)
        except peer.CandidateFault as e:
            reply = _fault({"fault": str(e)})
        except BaseException as e:
            reply = _fault(
                {"exception": dry_run.headline(e, n, names), "traceback": dry_run.trimmed_traceback(e)}
            )
        view = memoryview(reply)
        while view:
            view = view[os.write(fd_out, view) :]


def _load(init: dict[str, Any]) -> Any:
    """Run the candidate's module with the simulator's names in scope and the tuned constants set, then
    call compute_reward once on sample steps (`dry_run.check`: a mistake is reported before training)."""
    import sim  # type: ignore[import-not-found]  # this process's own copy, for its constants and helpers

    namespace: dict[str, Any] = {"__name__": "candidate", **environment_scope(sim)}
    # from here the candidate's code runs: no new process or thread, no file written
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    module = peer.load_candidate(namespace)
    # tuned values of the constants the candidate marked TUNABLE; compute_reward reads module globals when
    # it is called, so setting them after loading and before training is enough
    module.update({str(k): float(v) for k, v in (init.get("constants") or {}).items()})
    fn = module.get("compute_reward")
    if not callable(fn):
        raise peer.CandidateFault("the code does not define a function compute_reward")
    dry_run.check(fn, sim)
    return fn


def main() -> None:
    """peer.serve's start (budget first, then the init handshake), then the binary call loop."""
    fd_in, fd_out, cpu = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    peer.limit_cpu(cpu)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.stdout = sys.stderr
    try:
        header, _ = peer.read_message(fd_in, 1 << 20)
    except (EOFError, peer.CandidateFault):
        return
    try:
        fn = _load(header.get("init") or {})
    except dry_run.Finding as e:
        reply = {"exception": str(e), "traceback": e.traceback} if e.raised else {"fault": str(e)}
        peer.write_message(fd_out, reply)
        return
    except peer.CandidateFault as e:
        peer.write_message(fd_out, {"fault": str(e)})
        return
    except BaseException as e:
        message = f"while loading your code: {dry_run.headline(e)}"
        peer.write_message(fd_out, {"exception": message, "traceback": dry_run.trimmed_traceback(e)})
        return
    peer.write_message(fd_out, {"ready": True})
    _calls(fd_in, fd_out, fn)


if __name__ == "__main__":
    main()
