"""The sandbox side of a reward evaluation: train with the candidate's reward, print the policies.

This file runs inside the sandbox next to `sim.py`, `trainer.py`, `stats.py`, `candidate.py` and `config.json`
(it imports only numpy and those files). It trains one policy per seed with the candidate's
`compute_reward` and prints one result record after `RESULT_MARK`. Nothing it prints is trusted for the
score: the host re-evaluates the returned policies with its own simulator. The record only has to be
well-formed; the per-component statistics in it are feedback for the model. `config.json` may carry
`constants`: values that replace the candidate's module-level constants once its code is loaded (the
inner tuning of TUNABLE constants).

The candidate's prints go to stderr, so stdout carries only the result record.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import traceback

import numpy as np

RESULT_MARK = "@@ASSAY-REWARD-RESULT@@"
MAX_COMPONENTS = 16
MAX_NAME = 40


class CandidateFault(Exception):
    """The candidate's reward broke the contract (wrong types or shapes, NaN or inf)."""


def _readonly(a: np.ndarray) -> np.ndarray:
    copy = np.array(a)
    copy.setflags(write=False)
    return copy


def _as_vector(value: object, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CandidateFault(f"{what} is not numeric ({type(value).__name__}: {exc})") from None
    if arr.shape not in ((), (n,), (n, 1)):
        raise CandidateFault(f"{what} has shape {arr.shape}; expected ({n},), one value per environment")
    return np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,)).astype(np.float64)


def checked(fn: object) -> object:
    """Wrap the candidate: read-only inputs, validated finite outputs, and where it broke for the feedback."""
    calls = [0]

    def call(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, done: np.ndarray) -> tuple:
        calls[0] += 1
        n = len(obs)
        out = fn(_readonly(obs), _readonly(action), _readonly(next_obs), _readonly(done))  # type: ignore[operator]
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise CandidateFault(
                "compute_reward must return a tuple (reward, components) with components a dict of "
                f"name -> per-environment values; it returned {type(out).__name__}"
            )
        reward = _as_vector(out[0], n, "the reward")
        components: dict[str, np.ndarray] = {}
        if len(out[1]) > MAX_COMPONENTS:
            raise CandidateFault(f"at most {MAX_COMPONENTS} reward components, got {len(out[1])}")
        for name, value in out[1].items():
            if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
                raise CandidateFault(f"component names must be strings of 1-{MAX_NAME} characters: {name!r}")
            components[name] = _as_vector(value, n, f"component {name!r}")
        for name, values in [
            ("the reward", reward),
            *((f"component {k!r}", v) for k, v in components.items()),
        ]:
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.argmax(bad))
                raise CandidateFault(
                    f"{name} is {values[i]} (not finite) at training step {calls[0]} for "
                    f"obs={obs[i].tolist()}, "
                    f"action={np.asarray(action)[i].tolist()}, next_obs={next_obs[i].tolist()}, "
                    f"done={bool(done[i])}"
                )
        return reward, components

    return call


def _candidate_traceback() -> str:
    """The traceback from the candidate's first frame on (the harness frames are noise to the model)."""
    exc_type, exc, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    first = next((i for i, f in enumerate(frames) if f.filename.endswith("candidate.py")), 0)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames[first:])]
    lines += traceback.format_exception_only(exc_type, exc)
    text = "".join(lines)
    return text if len(text) <= 4000 else text[:1000] + "\n...\n" + text[-3000:]


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


def environment_constants(module: object) -> dict:
    """Copies of the simulator's upper-case constants (GOAL_POSITION, MAX_SPEED, ...) for the candidate.

    The model reads the simulator's source and naturally writes `GOAL_POSITION` in its reward; the names are
    defined for it (copies, so a candidate that mutates them changes nothing the trainer uses). Functions are
    not: they take internal states, while compute_reward sees observations.
    """
    import copy

    return {
        name: copy.deepcopy(value)
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, int | float | dict | np.ndarray)
    }


def run(emit: object) -> None:
    with open("config.json", encoding="utf-8") as f:
        config = json.load(f)
    import sim  # type: ignore[import-not-found]
    import trainer  # type: ignore[import-not-found]

    try:
        with open("candidate.py", encoding="utf-8") as f:
            source = f.read()
        namespace: dict = {"__name__": "candidate", **environment_constants(sim)}
        exec(compile(source, "candidate.py", "exec"), namespace)
        # tuned values of the constants the candidate marked TUNABLE; compute_reward reads module globals
        # when it is called, so setting them after loading and before training is enough
        namespace.update({str(k): float(v) for k, v in (config.get("constants") or {}).items()})
        fn = namespace.get("compute_reward")
        if not callable(fn):
            emit({"status": "bad_reward", "message": "the code does not define a function compute_reward"})
            return
    except BaseException:
        emit({"status": "exception", "phase": "load", "traceback": _candidate_traceback()})
        return
    reward_fn = checked(fn)
    runs = []
    for seed in config["seeds"]:
        started = time.process_time()
        try:
            policy, log = trainer.train(
                sim, reward_fn, seed, config["trainer_config"], config.get("randomise")
            )
        except CandidateFault as exc:
            emit({"status": "bad_reward", "seed": seed, "message": str(exc)})
            return
        except BaseException:
            emit({"status": "exception", "phase": "train", "seed": seed, "traceback": _candidate_traceback()})
            return
        runs.append(
            {
                "seed": seed,
                "policy": _encode(policy),
                "log": _clean(log),
                "cpu_s": time.process_time() - started,
            }
        )
    emit({"status": "ok", "runs": runs})


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever the candidate prints lands on stderr
    sys.stdout = sys.stderr

    def emit(record: dict) -> None:
        channel.write(RESULT_MARK + json.dumps(record) + "\n")
        channel.flush()

    run(emit)


if __name__ == "__main__":
    main()
