"""The candidate's `TUNABLE = {"NAME": (low, high), ...}`: which of its constants an inner optimiser may tune.

A reward's shape is the model's job, but the right weight or temperature of a term is often a number the
trainer has to tell. The candidate marks such module-level constants as tunable with a literal dict of
ranges; the constant's written value is where tuning starts. Everything here is read from the source with
`ast` (never by running it), so a malformed or hostile declaration can only earn an `invalid` verdict
whose reason the model sees.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

TUNABLE_NAME = "TUNABLE"
#: more than this many knobs cannot be searched with a handful of trials
MAX_TUNABLE = 6


class TunableError(ValueError):
    """The TUNABLE declaration is malformed; the message is for the model."""


@dataclass(frozen=True)
class Tunable:
    """One tunable constant: its written value and the range the optimiser may move it in."""

    name: str
    written: float
    low: float
    high: float

    @property
    def log_scale(self) -> bool:
        """Search a range spanning a decade or more of positive values by order of magnitude."""
        return self.low > 0 and self.high / self.low >= 10


def number_pair(pair: object) -> tuple[float, float] | None:
    """`pair` as (low, high) floats when it is a 2-item tuple or list of (non-bool) numbers, else None.

    TUNABLE and DrEureka's RANDOMISE both declare ranges this way; each checks the bounds it needs.
    """
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair):
        return None
    try:
        return float(pair[0]), float(pair[1])
    except OverflowError:  # an int literal too large for a float: not a usable bound
        return None


def _number(node: ast.expr) -> float | None:
    """The value of an int/float literal (optionally negated); None for anything else, bools included."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _target_names(target: ast.expr | None) -> list[str]:
    """The names an assignment target rebinds (`a`, `a, b`, `*a`; not `a[0]` or `a.x`, which mutate)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements that run at module level: the top ones and those nested in if/for/while/with/try."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If | ast.For | ast.AsyncFor | ast.While | ast.With | ast.AsyncWith | ast.Try):
            for block in ("body", "orelse", "finalbody"):
                out += _module_statements(getattr(stmt, block, []))
            for handler in getattr(stmt, "handlers", []):
                out += _module_statements(handler.body)
    return out


def _module_assignments(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Every module-level statement that binds each name (assignments, loops, defs, imports, ...)."""
    bound: dict[str, list[ast.stmt]] = {}
    for stmt in _module_statements(tree.body):
        names: list[str] = []
        if isinstance(stmt, ast.Assign):
            names += [n for target in stmt.targets for n in _target_names(target)]
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            names += _target_names(stmt.target)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            names += [n for item in stmt.items for n in _target_names(item.optional_vars)]
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.append(stmt.target.id)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(stmt.name)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            names += [(a.asname or a.name).split(".")[0] for a in stmt.names]
        for name in names:
            bound.setdefault(name, []).append(stmt)
    return bound


def _written_value(name: str, bound: dict[str, list[ast.stmt]]) -> float:
    stmts = bound.get(name, [])
    if not stmts:
        raise TunableError(f"{name!r} is not a module-level constant of your code (write `{name} = 1.0`)")
    if len(stmts) > 1:
        raise TunableError(f"{name!r} is bound more than once at module level; assign it exactly once")
    stmt = stmts[0]
    value = None
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        value = _number(stmt.value)
    if value is None:
        raise TunableError(f"{name!r} must be assigned a plain int or float literal, like `{name} = 1.0`")
    if not math.isfinite(value):
        raise TunableError(f"{name!r} must have a finite value")
    return value


def parse_tunable(source: str) -> tuple[Tunable, ...]:
    """The validated tunables of a source; empty when it declares none (no tuning, today's behaviour)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise TunableError(f"SyntaxError: {e.msg} (line {e.lineno})") from None
    except (MemoryError, RecursionError, ValueError) as e:  # nested too deep for the parser, NUL bytes
        raise TunableError(f"the code cannot be parsed ({type(e).__name__})") from None
    bound = _module_assignments(tree)
    stmts = bound.get(TUNABLE_NAME, [])
    if not stmts:
        return ()
    if len(stmts) > 1:
        raise TunableError(f"{TUNABLE_NAME} is bound more than once; define it exactly once")
    stmt = stmts[0]
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
        raise TunableError(f"write {TUNABLE_NAME} as a plain assignment: {TUNABLE_NAME} = {{...}}")
    try:
        value = ast.literal_eval(stmt.value)
    except (ValueError, TypeError, MemoryError, RecursionError):  # TypeError: {[]: ...} is unhashable
        raise TunableError(
            f'{TUNABLE_NAME} must be a literal dict of (low, high) number pairs, like {{"W": (0.0, 10.0)}}'
        ) from None
    if not isinstance(value, dict):
        raise TunableError(f"{TUNABLE_NAME} must be a dict of name -> (low, high)")
    if len(value) > MAX_TUNABLE:
        raise TunableError(f"at most {MAX_TUNABLE} tunable constants, got {len(value)}")
    tunables = []
    for name, pair in value.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise TunableError(f"{TUNABLE_NAME} keys must be names of your constants, got {name!r}")
        if name == TUNABLE_NAME:
            raise TunableError(f"{TUNABLE_NAME} cannot tune itself")
        bounds = number_pair(pair)
        if bounds is None:
            raise TunableError(f"{name}: give a (low, high) pair of numbers, got {pair!r}")
        low, high = bounds
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise TunableError(f"{name}: need finite low < high, got ({pair[0]!r}, {pair[1]!r})")
        written = _written_value(name, bound)
        if not low <= written <= high:
            raise TunableError(f"{name}: the written value {written:g} is outside [{low:g}, {high:g}]")
        tunables.append(Tunable(name=name, written=written, low=low, high=high))
    return tuple(tunables)
