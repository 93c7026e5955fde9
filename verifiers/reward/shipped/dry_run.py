"""Feedback a small model can act on: a first call on sample steps before training, and trimmed tracebacks.

Runs in the candidate's own process (imported by `reward_server.py`), never in the trusted runner's: the
candidate can replace anything here, so nothing it says is believed; it only makes the feedback precise.
A model that writes `if next_obs[:, 0] > 0.5:` or `math.cos(obs[:, 0])` gets, before a second of training is
spent, one line naming its own line and the fix ("use np.where"), instead of a numpy traceback it ignores.

The sample batch is the same on every split (a fixed generator seed, the trainer's shapes and dtypes:
obs (n, OBS_DIM) float64 from the simulator's own start states, action (n,) int64 or float64, done (n,)
bool with at least one True), so it tells the candidate nothing about which split is judging it.
"""

from __future__ import annotations

import ast
import difflib
import linecache
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

#: the size of the sample batch (the Q-learning trainer's batch: its shapes are what the model sees first)
BATCH = 16
CANDIDATE_FILE = "candidate.py"
WHERE = f"on {BATCH} sample steps before training"
ARRAY_IF = (
    "`if`, `and`, `or`, `not` or `while` on an array of {n} environments is ambiguous: use "
    "np.where(condition, value_if_true, value_if_false), and & | ~ to combine conditions"
)
SCALAR_FN = (
    "a function of one number (math.*, float(), int(), round(), max() of two values) got an array of {n} "
    "values: use numpy's element-wise functions on whole arrays (np.cos, np.sqrt, np.maximum, .astype(float))"
)
BROADCAST = "operands could not be broadcast"
#: what a small model calls the observations besides compute_reward's own first and third parameters
OBS_NAMES = ("obs", "next_obs", "observation", "next_observation", "state", "next_state")
ROW = (
    "`{name}[{i}]` is environment {i}'s whole observation (a row), not variable {i} of every environment: "
    "use `{name}[:, {i}]` (column {i}, shape ({n},))"
)
SHAPES = (
    "arrays of different shapes were combined ({text}): every term must have shape ({n},), one value per "
    "environment: take columns (obs[:, 0]), not rows (obs[0])"
)


class Finding(Exception):
    """What the first call showed is wrong: the message is the whole feedback, `traceback` is '' or frames;
    `raised` says the candidate's code raised (an error) rather than returned something unusable (a fail)."""

    def __init__(self, message: str, tb: str = "", *, raised: bool = False) -> None:
        super().__init__(message)
        self.traceback = tb
        self.raised = raised


# ----- tracebacks: the candidate's own frames only ----------------------------------------------------------
def _frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(tb) if os.path.basename(f.filename) == CANDIDATE_FILE]


def trimmed_traceback(exc: BaseException, limit: int = 4000) -> str:
    """The traceback of `exc` with only the candidate's frames (the server's and numpy's are noise)."""
    lines = ["Traceback (most recent call last):\n"]
    for f in _frames(exc.__traceback__):
        lines.append(f'  File "{CANDIDATE_FILE}", line {f.lineno}, in {f.name}\n')
        if f.line:
            lines.append(f"    {f.line.strip()}\n")
    lines += traceback.format_exception_only(type(exc), exc)
    text = "".join(lines)
    return text if len(text) <= limit else text[:1000] + "\n...\n" + text[-(limit - 1000) :]


def _at(exc: BaseException) -> str:
    """'line 7, `code`' for the candidate's last frame (where its own code was when it raised)."""
    frames = _frames(exc.__traceback__)
    if not frames:
        return "your code"
    last = frames[-1]
    return f"line {last.lineno}, `{(last.line or '').strip()[:120]}`"


def headline(exc: BaseException, n: int = BATCH, names: Sequence[str] = ()) -> str:
    """One line naming the candidate's line and, for the mistakes small models make most, the fix; `names`
    are compute_reward's parameters (what the candidate calls its observations)."""
    text = str(exc)
    if isinstance(exc, ValueError) and "truth value of an array" in text:
        advice = _array_if(exc, n)
    elif isinstance(exc, ValueError) and BROADCAST in text:
        advice = _broadcast(exc, n, names)
    elif isinstance(exc, TypeError) and _scalar_only(text):
        advice = SCALAR_FN.format(n=n)
    elif isinstance(exc, AttributeError) and text.startswith("module 'numpy' has no attribute"):
        name = text.rsplit("'", 2)[-2] if text.count("'") >= 4 else ""
        close = difflib.get_close_matches(name, [a for a in dir(np) if not a.startswith("_")], 1)
        advice = f"{type(exc).__name__}: {text}" + (f" (did you mean np.{close[0]}?)" if close else "")
    else:
        advice = f"{type(exc).__name__}: {text[:300]}"
    return f"{_at(exc)}: {advice}"


def _array_if(exc: BaseException, n: int) -> str:
    """ARRAY_IF, with the candidate's own code written element-wise where the failing line allows: told
    "use np.where(condition, ...)", the 1.5B model returned its `if done:` program unchanged (stop 30: its
    mountaincar and acrobot answers, in both iterations); the rewrite of its own line is concrete."""
    frames = _frames(exc.__traceback__)
    line = (frames[-1].line or "").strip() if frames else ""
    found = re.fullmatch(r"(?:el)?if\s+(.+?)\s*:|while\s+(.+?)\s*:", line)
    condition = _expression(found.group(1) or found.group(2)) if found else None
    if condition is not None:
        return (
            f"`{line}` on an array of {n} environments is ambiguous: compute the value of both branches for "
            f"every environment and choose per environment, `reward = np.where({_elementwise(condition)}, "
            "value_if_true, value_if_false)`, instead of `if`"
        )
    node = _boolean_in(line)
    if node is not None:
        return (
            f"`{ast.unparse(node)[:160]}` on arrays of {n} environments is ambiguous: write it element-wise, "
            f"`{_elementwise(node)[:200]}`"
        )
    return ARRAY_IF.format(n=n)


def _expression(text: str) -> ast.expr | None:
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _boolean_in(line: str) -> ast.expr | None:
    """The outermost `and`, `or`, `not` or `x if c else y` of a one-line statement, or None."""
    try:
        tree = ast.parse(line)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in ast.walk(tree):  # breadth first: the outermost comes first
        if isinstance(node, ast.BoolOp | ast.IfExp) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            return node
    return None


def _elementwise(node: ast.expr) -> str:
    """`node` with numpy's | & ~ for `or`, `and`, `not` (each operand in parentheses: & and | bind tighter
    than comparisons) and np.where for a conditional expression."""
    if isinstance(node, ast.BoolOp):
        op = " & " if isinstance(node.op, ast.And) else " | "
        return op.join(f"({_elementwise(value)})" for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return f"~({_elementwise(node.operand)})"
    if isinstance(node, ast.IfExp):
        return f"np.where({_elementwise(node.test)}, {ast.unparse(node.body)}, {ast.unparse(node.orelse)})"
    return ast.unparse(node)


def observation_names(fn: Callable) -> tuple[str, ...]:
    """compute_reward's first and third parameter names (obs and next_obs, whatever it calls them)."""
    code = getattr(fn, "__code__", None)
    params = code.co_varnames[: code.co_argcount] if code is not None else ()
    return tuple(params[i] for i in (0, 2) if i < len(params))


def _broadcast(exc: BaseException, n: int, names: Sequence[str]) -> str:
    """A broadcast error, and the row index that most likely caused it: `next_obs[1] - obs[1]` is the
    difference of two environments' observations, shape (OBS_DIM,), and fails only when it meets a (n,)
    term, often a line later (measured, stop 29: the 1.5B model repeated it after the traceback). The
    failing line is searched first, then the earlier lines of the candidate's file, nearest first."""
    words = sorted({*names, *OBS_NAMES} - {""}, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\[\s*(-?\d+)\s*\]")
    frames = _frames(exc.__traceback__)
    if frames:
        last = frames[-1]
        lines = linecache.getlines(last.filename)
        lineno = last.lineno or 0
        for number in range(min(lineno, len(lines)), 0, -1):
            if found := pattern.search(lines[number - 1]):
                return ROW.format(name=found.group(1), i=found.group(2), n=n)
    shapes = str(exc).split("shapes", 1)[-1].strip()[:80]
    return SHAPES.format(text=f"shapes {shapes}", n=n)


def recognised(exc: BaseException) -> bool:
    """Whether the headline says all there is (then the traceback is left out of the feedback)."""
    text = str(exc)
    return "truth value of an array" in text or _scalar_only(text)


def _scalar_only(text: str) -> bool:
    """numpy's words (1.x and 2.x) for an array passed where one number is expected."""
    return any(
        f"only {kind} arrays can be converted" in text for kind in ("length-1", "size-1", "0-dimensional")
    )


# ----- the first call ---------------------------------------------------------------------------------------
def sample_batch(sim: ModuleType, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(obs, action, next_obs, done) for BATCH steps from the simulator's own start states, read-only."""
    rng = np.random.default_rng(seed)
    state = sim.reset(rng, BATCH)
    if sim.N_ACTIONS:
        action = rng.integers(0, sim.N_ACTIONS, size=BATCH).astype(np.int64)
    else:
        action = rng.uniform(-2.0, 2.0, size=BATCH)
    next_state, done = sim.step(state, action)
    done = np.asarray(done, dtype=bool).copy()
    done[-1] = True  # a reward must also handle the step that ends an episode
    batch = (sim.observe(state).astype(np.float64), action, sim.observe(next_state).astype(np.float64), done)
    for arr in batch:
        arr.flags.writeable = False
    return batch


def _call(fn: Callable, batch: tuple[np.ndarray, ...]) -> tuple[Any, int | None]:
    """fn(*batch), and the line of the `return` it left by (for feedback about what it returned)."""
    code = getattr(fn, "__code__", None)
    seen: list[int] = []

    def profile(frame: Any, event: str, arg: object) -> None:
        if event == "return" and frame.f_code is code:
            seen.append(frame.f_lineno)

    sys.setprofile(profile)
    try:
        out = fn(*batch)
    finally:
        sys.setprofile(None)
    return out, seen[-1] if seen else None


def check(fn: Callable, sim: ModuleType) -> None:
    """Call fn once on the sample batch; raise Finding with one or two lines of feedback if it is wrong."""
    batch = sample_batch(sim)
    try:
        out, line = _call(fn, batch)
    except Exception as e:
        message = f"compute_reward raised {WHERE}: {headline(e, names=observation_names(fn))}"
        raise Finding(message, _tb_unless_recognised(e), raised=True) from None
    where = f"line {line}" if line else "compute_reward"
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise Finding(
            f"{where} ({WHERE}): compute_reward returned {_returned(out)}; it must return a tuple "
            '(reward, components), components a dict {name: array (n,)}: `return reward, {"speed": speed}`'
        )
    _check_value(fn, sim, None, out[0], where, batch)
    for key, value in out[1].items():
        _check_value(fn, sim, key, value, where, batch)


def _returned(out: object) -> str:
    """What was returned, in the terms of the expected (reward, components): a small model that returns
    `(next_state, goal(next_state))` was told "returned tuple; it must return a tuple", which says nothing."""
    if not isinstance(out, tuple):
        return type(out).__name__
    if len(out) != 2:
        return f"a tuple of {len(out)} items"
    return f"a tuple whose second item is {type(out[1]).__name__}, not a dict of components"


def _tb_unless_recognised(exc: BaseException) -> str:
    return "" if recognised(exc) else trimmed_traceback(exc)


def _check_value(
    fn: Callable, sim: ModuleType, key: Any, value: object, where: str, batch: tuple[np.ndarray, ...]
) -> None:
    """Shape, numeric type and finiteness of the reward (key None) or of one component."""
    n = BATCH
    what = "the reward" if key is None else f"component {key!r}"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise Finding(f"{where} ({WHERE}): {what} is not numeric ({type(value).__name__}: {e})") from None
    if arr.shape == ():
        if _varies(fn, sim, key, arr):
            raise Finding(
                f"{where} ({WHERE}): {what} is one number for the whole batch, computed from it (a sum, "
                f"mean or max over the {n} environments, or float()): return one value per environment, "
                f"shape ({n},)"
            )
        return  # a constant is broadcast to every environment
    if arr.shape not in ((n,), (n, 1)):
        like = _like_observation(fn) if arr.shape == batch[0].shape else None
        raise Finding(
            f"{where} ({WHERE}): {what} has shape {arr.shape}; expected ({n},), one value per environment "
            + (like or f"(obs has shape {batch[0].shape}: take a column, obs[:, 0], or reduce with axis=1)")
        )
    bad = ~np.isfinite(arr.reshape(n))
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        source = _nonfinite_line(fn, batch) or where
        raise Finding(
            f"{source} ({WHERE}): {what} is {arr.reshape(n)[i]} for obs={batch[0][i].tolist()}, "
            f"next_obs={batch[2][i].tolist()}: guard the operation (np.clip its input, add a small epsilon)"
        )


def _like_observation(fn: Callable) -> str | None:
    """Where the candidate made an array shaped like an observation (`np.zeros_like(obs)`, 3 of 12
    free-form answers of stop 30 started their reward so), and the fix, or None."""
    names = "|".join(map(re.escape, sorted({*observation_names(fn), *OBS_NAMES}, key=len, reverse=True)))
    pattern = re.compile(rf"\b(?:np|numpy)\.(zeros|ones|full|empty)_like\(\s*({names})\b")
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    for number, line in enumerate(linecache.getlines(code.co_filename), start=1):
        if found := pattern.search(line):
            kind, name = found.groups()
            return (
                f"(line {number}: `np.{kind}_like({name})` has the shape of {name}, one row per environment "
                f"and a column per variable: use np.{kind}(len({name})){', value' if kind == 'full' else ''})"
            )
    return None


def _varies(fn: Callable, sim: ModuleType, key: str | None, value: np.ndarray) -> bool:
    """Whether a scalar result changes with the batch (a reduction over environments, not a constant)."""
    try:
        out, _ = _call(fn, sample_batch(sim, seed=1))
        other = np.asarray(out[0] if key is None else out[1][key], dtype=np.float64)
        return bool(other.shape == () and float(other) != float(value))
    except Exception:
        return False


def _nonfinite_line(fn: Callable, batch: tuple[np.ndarray, ...]) -> str | None:
    """Where the numpy operation that made a NaN or inf is (re-run with numpy raising on it), or None."""
    try:
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            fn(*batch)
    except FloatingPointError as e:
        return _at(e) + f" ({e})"
    except Exception:
        return None
    return None
