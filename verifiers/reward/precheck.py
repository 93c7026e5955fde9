"""Names a reward uses but never defines, found on the host before a job is sent (a static pass, no code run).

A small model calls the simulator's functions as if they were in scope, or misspells its own helper; in the
sandbox that is a NameError after a job start, with a traceback it tends to ignore. Here it costs a parse
and is said in two lines: the candidate's line and the nearest name that is defined. The check is
deliberately conservative (a name bound anywhere in the module counts as defined, in any scope; a star
import turns it off): a false alarm would reject a reward that trains, a miss only defers the NameError.

What is in scope must match what `shipped/reward_server.py` puts in the candidate's namespace (numpy as
`np`, the simulator's upper-case constants, its OBS_HELPERS); tests/verifiers/reward checks that it does.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import sys
from types import ModuleType

import numpy as np

from verifiers.names import bound_names
from verifiers.names import placeholder as shared_placeholder

#: module attributes every module has
MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__"})
#: the simulator's own functions a small model calls although they are not in scope (measured, stop 29:
#: `goal(obs)` in 3 of 8 free-form Pendulum and MountainCar candidates, repeated after the hint "define it"),
#: each with what the reward has instead
ENVIRONMENT_CALLS = {
    "goal": "write its condition yourself, on next_obs columns with the constants and helpers that are "
    "defined (where reaching the goal ends the episode, the `done` argument is True there)",
    "step": "compute_reward is given the step's result (obs, action, next_obs, done): do not simulate it",
    "reset": "compute_reward is given the step's result (obs, action, next_obs, done): do not reset anything",
    "observe": "the observations are the arguments obs and next_obs: use their columns, e.g. next_obs[:, 0]",
}
#: the types of the simulator's upper-case constants that are copied (reward_server.environment_constants)
CONSTANT_TYPES = (int, float, dict, np.ndarray)


def scope(sim: ModuleType) -> dict[str, str]:
    """The names the candidate's module finds defined, each with what it is (for the task's prompt)."""
    names = {"np": "numpy", "numpy": "numpy"}
    for name, value in vars(sim).items():
        if name.isupper() and not name.startswith("_") and isinstance(value, CONSTANT_TYPES):
            names[name] = "constant"
    for name in getattr(sim, "OBS_HELPERS", ()):
        names[name] = "function"
    return names


def _uses(tree: ast.AST) -> list[ast.Name]:
    """The names the code loads, in source order, annotations left out (they may never be evaluated)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        notes = []
        if isinstance(node, ast.arg | ast.AnnAssign):
            notes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        for note in notes:
            if note is not None:
                skip.update(id(n) for n in ast.walk(note))
    used = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return sorted((n for n in used if id(n) not in skip), key=lambda n: (n.lineno, n.col_offset))


def _called(tree: ast.AST) -> set[int]:
    """The ids of the Name nodes that are called (`goal(obs)`), for ENVIRONMENT_CALLS."""
    return {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _hint(name: str, known: set[str], called: bool = False) -> str:
    """The likeliest fix for an undefined name: what the reward has instead of a simulator function it
    called, a numpy function, a module to import, or a close name."""
    if called and name in ENVIRONMENT_CALLS:
        if f"{name}_reached" in known:  # the simulator's own test, on observations, is in scope
            instead = f"use `{name}_reached(next_obs)`"
            return f"the simulator's `{name}` takes internal states and is not in scope: {instead}"
        return f"the simulator's `{name}` is not in scope: {ENVIRONMENT_CALLS[name]}"
    if name in ("math", "random") or name in sys.stdlib_module_names:
        return f"add `import {name}` (or use numpy: np.cos, np.random.default_rng)"
    if hasattr(np, name) and not name.startswith("_"):
        return f"did you mean np.{name}?"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
    if close:
        return f"did you mean `{close[0]}`?"
    if parts := _with_part(name, known):
        listed = ", ".join(f"`{p}`" for p in parts)
        which = listed if len(parts) == 1 else "one of " + listed
        return f"did you mean {which}? (`{name}` itself is not defined)"
    return "define it in your module (only the names listed in the task are already defined)"


def _with_part(name: str, known: set[str]) -> list[str]:
    """Up to 3 defined names with `name` as one of their `_`-separated words, any case: a small model that
    wrote `goal` next to its own `goal_height` and the task's `GOAL_POSITION` (measured, stop 25) is
    too far from either for difflib, and "define it" sent it back to the same line."""
    word = name.lower()
    return sorted(k for k in known if word in k.lower().split("_") and k.lower() != word)[:3]


def undefined_names(source: str, in_scope: set[str] | dict[str, str]) -> str | None:
    """Two lines naming the first name the code uses but nobody defines, or None (also for unparsable code:
    `check_source` reports that)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, MemoryError, RecursionError, ValueError):
        return None
    bound, star = bound_names(tree)
    if star:
        return None
    known = bound | set(in_scope) | MODULE_NAMES | set(dir(builtins))
    missing = [n for n in _uses(tree) if n.id not in known]
    if not missing:
        return None
    first = missing[0]
    others = sorted({n.id for n in missing} - {first.id})
    also = f" (also undefined: {', '.join(others[:5])})" if others else ""
    hint = _hint(first.id, bound | set(in_scope), id(first) in _called(tree))
    lines = source.splitlines()
    code = lines[first.lineno - 1].strip()[:120] if first.lineno <= len(lines) else ""
    return f"line {first.lineno}: `{first.id}` is not defined: {hint}{also}\n    {first.lineno} | {code}"


def placeholder(source: str) -> str | None:
    """A scaffold's hole left unfilled (verifiers/names.placeholder), said for a reward."""
    return shared_placeholder(source, "a numpy expression on whole arrays")
