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


def read_before_assigned(source: str) -> str | None:
    """Two lines naming a function's first assignment to a name that reads that name itself, or None.

    `goal_reached = goal_reached(next_obs)` inside compute_reward makes `goal_reached` local to it, so
    the helper of that name is hidden and the call is an UnboundLocalError (measured, stop 30: a 1.5B
    model's acrobot and mountaincar rewards). Only a name's first assignment in the function is read, only
    when it reads its own target (`x = x(...)`, `x += ...`) and is in no loop or try: executed, that
    statement always raises, so the check never rejects code that would have run; a parameter, `global` or
    `nonlocal` name is skipped."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, MemoryError, RecursionError, ValueError):
        return None
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            found = _first_self_read(fn)
            if found is not None:
                name, line = found
                lines = source.splitlines()
                code = lines[line - 1].strip()[:120] if line <= len(lines) else ""
                return (
                    f"line {line}: `{name}` is read before {fn.name} assigns it (assigning a name anywhere "
                    f"in a function makes it local there, hiding the `{name}` outside): give the result "
                    f"another name, e.g. `{name}_value`\n    {line} | {code}"
                )
    return None


#: the nodes that open a scope of their own: their names are not the enclosing function's
SCOPES = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
)  # fmt: skip


def _own_nodes(fn: ast.AST, scopes: tuple[type, ...] = SCOPES) -> list[ast.AST]:
    """The nodes of fn's own scope below it (nested functions, lambdas, classes and comprehensions left out);
    fn may also be an expression."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(fn.body) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) else [fn]
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, scopes):
            todo.extend(ast.iter_child_nodes(node))
    return out


#: statements under these may run after a later one (a loop) or have their NameError caught (a try)
GUARDS = (ast.For, ast.AsyncFor, ast.While, ast.Try, ast.TryStar)


def _first_self_read(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, int] | None:
    """The name and line of fn's first assignment to a name that reads that name, when it is the name's
    first binding in fn and unguarded (in no loop or try), so that running it always raises."""
    own = _own_nodes(fn)
    skip = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    for node in own:
        if isinstance(node, ast.Global | ast.Nonlocal):
            skip.update(node.names)
    first: dict[str, ast.Name] = {}
    stores = (n for n in own if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id not in skip)
    for n in sorted(stores, key=lambda n: (n.lineno, n.col_offset)):
        first.setdefault(n.id, n)
    guarded = {id(n) for g in own if isinstance(g, GUARDS) for n in _own_nodes(g) if n is not g}
    statements = [s for s in own if isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign)]
    for stmt in sorted(statements, key=lambda s: s.lineno):
        if id(stmt) in guarded:
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [n for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and first.get(n.id) is n]
        for target in names:
            if isinstance(stmt, ast.AugAssign) or _reads(stmt.value, target.id):
                return target.id, stmt.lineno
    return None


def _reads(value: ast.expr | None, name: str) -> bool:
    """Whether evaluating `value` always reads `name` (a read under `and`, `or` or `x if c else y` may be
    skipped, one in a nested scope is another scope's)."""
    nodes = _own_nodes(value, (*SCOPES, ast.IfExp, ast.BoolOp)) if value is not None else []
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for n in nodes)
