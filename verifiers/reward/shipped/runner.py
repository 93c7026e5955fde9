"""The trusted side of a reward job: train with the candidate's reward, called in its own process.

This file runs inside the sandbox next to `sim.py`, `trainer.py`, `stats.py`, `peer.py`, `reward_server.py`,
`dry_run.py` and `candidate.py`. Threat model (peer.py has the whole of it): the candidate is code written to
score high, so it never shares a process with what judges it. This process holds the simulator, the trainer,
the seeds, the policies and the result channel; the candidate's module runs in a fresh `reward_server.py`
process per seed and only ever receives one step's arrays and answers with arrays, which `RewardPeer.reward`
checks (dtype, shape, finiteness, at most 16 named components) before the trainer sees them. So a candidate
can return any reward values, which is what a reward is, but cannot replace the trainer, read or edit its
state, train extra seeds and hand back their policy, or write the result record.

What the candidate could use to tell the splits apart is kept from it: the config (seeds, salt, tuned
constants, the record's nonce) arrives on stdin, never in a file; the trainer seeds its generator with
`derive_seed(salt, seed)`, so observations cannot be matched to assay's published seed lists; each seed gets
a fresh process (it cannot count seeds) with the same CPU budget on every split. After reading its config
and sources this process hardens itself (non-dumpable, the job directory off `sys.path`) and reads no file.

It prints one result record after `RESULT_MARK` and the nonce on the stdout it kept for itself (the
candidate's process writes to stderr). Nothing in it is trusted for the score: the host re-evaluates the
returned policies with its own simulator; the record's statistics only become feedback.
"""

from __future__ import annotations

import base64
import json
import math
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import peer
import reward_server
import sim  # type: ignore[import-not-found]
import trainer  # type: ignore[import-not-found]

RESULT_MARK = "@@ASSAY-REWARD-RESULT@@"
MAX_COMPONENTS = reward_server.MAX_COMPONENTS
MAX_NAME = reward_server.MAX_NAME
#: CPU seconds a candidate's process may use for one seed's training (startup and numpy import included):
#: the same on every split; the environment rewards used 0.7 s (mountaincar) and 0.3 s (pendulum) per seed
#: on the loaded 2-core machine (the verdict's `reward_cpu_s_max` metric)
CPU_BUDGET_S = 4
#: the longest JSON a candidate may send instead of values (an exception's traceback, a fault)
MAX_FAULT_BYTES = 1 << 16
#: the component names block: a length byte and at most 4 bytes per character of a 40-character name
MAX_NAMES_BYTES = MAX_COMPONENTS * (1 + 4 * MAX_NAME) + 8
SHIPPED = ("candidate.py", "reward_server.py", "dry_run.py", "peer.py", "sim.py")
_DTYPE_CODES = {dt: i for i, dt in enumerate(reward_server.ACTION_DTYPES)}


class OverBudget(peer.CandidateFault):
    """The candidate's process used up its CPU budget."""


class RewardPeer(peer.Peer):
    """One candidate process for one seed, called like a reward function and checked like one."""

    def __init__(self, files: dict[str, str], constants: dict[str, float] | None) -> None:
        super().__init__(
            "reward_server.py",
            files,
            {"constants": constants or {}},
            cpu_s=CPU_BUDGET_S,
            env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )
        self.calls = 0
        self._names_raw = b""
        self._names: list[str] = []
        self._zero = np.zeros(0)

    def reward(
        self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, done: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ask the candidate, then believe only finite float64 values of shape (n,) and well-formed names."""
        return self.submit(obs, action, next_obs, done)()

    __call__ = reward  # the trainer calls the peer as its reward_fn (and finds `submit` on it)

    def submit(
        self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, done: np.ndarray
    ) -> Callable[[], tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Send one call now and return what reads its checked reply: a trainer can work meanwhile."""
        self.calls += 1
        n, width = obs.shape
        code = _DTYPE_CODES.get(action.dtype)
        if code is None:  # a trainer that acts in another dtype: send float64
            action, code = action.astype(np.float64), 0
        message = b"".join(
            (reward_server.CALL.pack(reward_server.OP_CALL, n, width, code), obs.astype(np.float64).tobytes(),
             action.tobytes(), next_obs.astype(np.float64).tobytes(), done.astype(np.bool_).tobytes())
        )  # fmt: skip
        try:
            written = os.write(self._to_child, message)
            if written < len(message):
                view = memoryview(message)[written:]
                while view:
                    view = view[os.write(self._to_child, view) :]
        except OSError:
            raise self._death() from None
        return lambda: self._receive(n, (obs, action, next_obs, done))

    def _receive(self, n: int, inputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        try:
            names, values = self._reply(n)
        except (EOFError, OSError):
            raise self._death() from None
        # 0 * x is 0 for every finite x and NaN for inf and NaN: one dot product instead of isfinite + all
        if not math.isfinite(values.ravel() @ self._zeros(values.size)):
            self._not_finite(names, values, *inputs)
        return values[0], dict(zip(names, values[1:], strict=True))

    def _zeros(self, size: int) -> np.ndarray:
        if len(self._zero) != size:
            self._zero = np.zeros(size)
        return self._zero

    def _not_finite(self, names: list[str], values: np.ndarray, *inputs: np.ndarray) -> None:
        bad = ~np.isfinite(values)
        if not bad.any():
            return
        obs, action, next_obs, done = inputs
        row, i = (int(x[0]) for x in np.nonzero(bad))
        what = "the reward" if row == 0 else f"component {names[row - 1]!r}"
        raise peer.CandidateFault(
            f"{what} is {values[row, i]} (not finite) at training step {self.calls} for "
            f"obs={obs[i].tolist()}, action={action[i].tolist()}, next_obs={next_obs[i].tolist()}, "
            f"done={bool(done[i])}"
        )

    def _reply(self, n: int) -> tuple[list[str], np.ndarray]:
        """Read one reply, every length bounded before the bytes behind it are read."""
        # at most 64 KiB at once: a larger read buffer is mmap'd and unmapped on every call
        limit = min(reward_server.REPLY.size + MAX_NAMES_BYTES + 8 * n * (1 + MAX_COMPONENTS), 1 << 16)
        data = os.read(self._from_child, limit)
        while len(data) < reward_server.REPLY.size:
            data += _more(self._from_child, reward_server.REPLY.size - len(data))
        status, k, extra = reward_server.REPLY.unpack_from(data)
        if status == reward_server.FAULT and extra <= MAX_FAULT_BYTES:
            total = reward_server.REPLY.size + extra
        elif status == reward_server.OK and k <= MAX_COMPONENTS and extra <= MAX_NAMES_BYTES:
            total = reward_server.REPLY.size + extra + 8 * n * (1 + k)
        else:
            raise peer.CandidateFault("the reward's reply is malformed")
        if len(data) < total:
            chunks, have = [data], len(data)
            while have < total:
                chunks.append(_more(self._from_child, min(total - have, 1 << 16)))
                have += len(chunks[-1])
            data = b"".join(chunks)
        if len(data) != total:
            raise peer.CandidateFault("the reward's reply is longer than it says")
        body = data[reward_server.REPLY.size : reward_server.REPLY.size + extra]
        if status == reward_server.FAULT:
            raise _fault(body)
        if body != self._names_raw or len(self._names) != k:
            self._names, self._names_raw = _names(body, k), body
        values = np.frombuffer(data, np.float64, (1 + k) * n, reward_server.REPLY.size + extra)
        return self._names, values.reshape(1 + k, n)

    def _death(self) -> peer.CandidateFault:
        message = self._died()
        return OverBudget(message) if "CPU time" in message else peer.CandidateFault(message)


def _more(fd: int, n: int) -> bytes:
    chunk = os.read(fd, n)
    if not chunk:
        raise EOFError
    return chunk


def _fault(body: bytes) -> peer.CandidateFault:
    try:
        reply = json.loads(body)
    except (ValueError, RecursionError):
        reply = None
    if not isinstance(reply, dict):
        return peer.CandidateFault("the reward's reply is malformed")
    if "exception" in reply:
        return peer.CandidateRaised(str(reply["exception"])[:2000], str(reply.get("traceback", ""))[:8000])
    return peer.CandidateFault(str(reply.get("fault", "the reward's reply is malformed"))[:2000])


def _names(raw: bytes, k: int) -> list[str]:
    names, at = [], 0
    for _ in range(k):
        size = raw[at] if at < len(raw) else 0
        try:
            name = raw[at + 1 : at + 1 + size].decode("utf-8")
        except UnicodeDecodeError:
            name = ""
        if not 0 < len(name) <= MAX_NAME or len(name.encode()) != size or name in names:
            raise peer.CandidateFault(f"component names must be distinct strings of 1-{MAX_NAME} characters")
        names.append(name)
        at += 1 + size
    if raw[at:].strip(b"\0"):
        raise peer.CandidateFault("the reward's reply is malformed")
    return names


def _encode(policy: np.ndarray) -> dict:
    arr = np.ascontiguousarray(policy, dtype=np.float64)
    return {"shape": list(arr.shape), "b64": base64.b64encode(arr.tobytes()).decode("ascii")}


def _clean(log: object) -> object:
    """JSON-safe copy of a training log (numpy scalars to floats, non-finite to None)."""
    if isinstance(log, dict):
        return {str(k): _clean(v) for k, v in log.items()}
    if isinstance(log, list | tuple):
        return [_clean(v) for v in log]
    if isinstance(log, np.generic | float | int) and not isinstance(log, bool):
        value = float(log)
        return value if np.isfinite(value) else None
    return log


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its finished children (the candidate processes, once closed)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def train_seed(files: dict[str, str], config: dict[str, Any], seed: int) -> dict[str, Any]:
    """One seed: a fresh candidate process, the trainer driven by its checked rewards; a run or a verdict."""
    started = _cpu()
    try:
        candidate = RewardPeer(files, config.get("constants"))
    except peer.CandidateRaised as e:  # while loading, or on its first call on sample steps (dry_run.py)
        return {"status": "exception", "phase": "load", "message": str(e), "traceback": e.traceback}
    except peer.CandidateFault as e:  # it returned something unusable on the sample steps, died or broke
        if "CPU time" in str(e):  # the protocol while loading
            return {"status": "over_budget", "seed": seed, "cpu_s": CPU_BUDGET_S}
        return {"status": "bad_reward", "phase": "load", "message": str(e)}
    with candidate:
        try:
            policy, log = trainer.train(
                sim, candidate, peer.derive_seed(config["salt"], seed), config["trainer_config"],
                config.get("randomise"),
            )  # fmt: skip
        except OverBudget:
            return {"status": "over_budget", "seed": seed, "cpu_s": CPU_BUDGET_S}
        except peer.CandidateRaised as e:
            record = {"status": "exception", "phase": "train", "seed": seed}
            return record | {"message": str(e), "traceback": e.traceback}
        except peer.CandidateFault as e:
            return {"status": "bad_reward", "seed": seed, "message": str(e)}
    if not np.isfinite(policy).all():
        message = (
            "training diverged (the policy has NaN or inf weights): keep the reward's magnitude moderate"
        )
        return {"status": "bad_reward", "seed": seed, "message": message}
    own, reward = (now - then for now, then in zip(_cpu(), started, strict=True))
    run = {"seed": seed, "policy": _encode(policy), "log": _clean(log), "cpu_s": own + reward}
    return run | {"reward_cpu_s": reward}


def run(config: dict[str, Any], files: dict[str, str], emit: Callable[[dict], None]) -> None:
    runs = []
    for seed in config["seeds"]:
        outcome = train_seed(files, config, seed)
        if "status" in outcome:
            emit(outcome)
            return
        runs.append(outcome)
    emit({"status": "ok", "runs": runs})


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever is printed here lands on stderr
    sys.stdout = sys.stderr
    config = peer.read_config()
    files = {}
    for name in SHIPPED:
        with open(name, encoding="utf-8") as f:
            files[name] = f.read()
    peer.harden()
    nonce = str(config.get("nonce", ""))

    def emit(record: dict) -> None:
        channel.write(f"{RESULT_MARK} {nonce} {json.dumps(record)}\n")
        channel.flush()

    run(config, files, emit)


if __name__ == "__main__":
    main()
