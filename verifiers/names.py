"""Which names a candidate's module binds, read statically (parsed, never run): shared by the undefined-name
pre-checks of the reward and loss families.

Deliberately generous: a name bound anywhere in the module, in any scope, counts as bound, so a pre-check
built on it never rejects code that would have run; a star import makes the set unknowable, said by the flag.
"""

from __future__ import annotations

import ast


def bound_names(tree: ast.AST) -> tuple[set[str], bool]:
    """Every name the module binds anywhere, and whether it has a star import (then anything may be bound)."""
    bound: set[str] = set()
    star = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                star = star or alias.name == "*"
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
        elif type(node).__name__ in ("TypeVar", "ParamSpec", "TypeVarTuple"):  # 3.12 type parameters
            bound.add(node.name)  # type: ignore[attr-defined]
    return bound, star


def placeholder(source: str, expected: str) -> str | None:
    """Two lines naming the first `...` the code still uses as a value (a scaffold's hole left unfilled),
    or None. A bare `...` statement (a body placeholder) is fine: only an Ellipsis that is computed with is
    reported, since no reward or loss can be made of it. Said on the host, the model reads the hole's own
    line and what belongs there (`expected`), not a TypeError in the line that first multiplies it."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, MemoryError, RecursionError, ValueError):
        return None
    bare = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    holes = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value is Ellipsis]
    holes = [n for n in holes if id(n) not in bare]
    if not holes:
        return None
    first = min(holes, key=lambda n: (n.lineno, n.col_offset))
    lines = source.splitlines()
    code = lines[first.lineno - 1].strip()[:120] if first.lineno <= len(lines) else ""
    return (
        f"line {first.lineno}: `...` is still a placeholder: replace it with {expected}\n"
        f"    {first.lineno} | {code}"
    )
