"""The `if` statements on arrays that elementwise.py writes per environment: choosing names (if-conversion)
and choosing what is returned. Both branches are computed for every environment (each from the names as they
were before the `if`), then np.where picks per environment; nothing here runs the code (see elementwise.py
for why and when these rewrites are made).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterable, Sequence

#: a fresh name for a temporary, not used by the candidate's module
Fresh = Callable[[str], str]


def np_call(name: str, *args: ast.expr, **keywords: ast.expr) -> ast.Call:
    func = ast.Attribute(value=ast.Name(id="np", ctx=ast.Load()), attr=name, ctx=ast.Load())
    return ast.Call(
        func=func, args=list(args), keywords=[ast.keyword(arg=k, value=v) for k, v in keywords.items()]
    )


def own_nodes(body: Sequence[ast.stmt]) -> Iterable[ast.AST]:
    """The nodes of a function's body, less what is nested in another scope (def, lambda, class)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                stack.append(child)


def _branch(body: list[ast.stmt]) -> list[ast.Assign | ast.AugAssign] | None:
    """The assignments of an `if` branch that only assigns names or a dict's constant keys (and passes),
    else None."""
    out: list[ast.Assign | ast.AugAssign] = []
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and (isinstance(statement.targets[0], ast.Name) or _key(statement.targets[0]) is not None)
        ) or (isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name)):
            out.append(statement)
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.value
        ):
            out.append(ast.Assign(targets=[statement.target], value=statement.value))
        else:
            return None
    return out


def _key(target: ast.expr) -> tuple[str, str] | None:
    """(dict name, key) of `components["speed"]`, else None."""
    if (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and isinstance(target.slice, ast.Constant)
        and isinstance(target.slice.value, str)
    ):
        return target.value.id, target.slice.value
    return None


def _target(statement: ast.Assign | ast.AugAssign) -> str:
    """The name the statement binds, or `d['k']` for a dict's key."""
    target = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
    key = _key(target)
    if key is not None:
        return f"{key[0]}[{key[1]!r}]"
    assert isinstance(target, ast.Name)
    return target.id


def _bound(name: str) -> str:
    """The name that must exist before the `if` for `name` to be kept where a branch does not bind it."""
    return name.split("[", 1)[0]


def _store(name: str, keys: dict[str, tuple[str, str]]) -> ast.expr:
    if name in keys:
        d, k = keys[name]
        return ast.Subscript(value=ast.Name(id=d, ctx=ast.Load()), slice=ast.Constant(k), ctx=ast.Store())
    return ast.Name(id=name, ctx=ast.Store())


def _kept(name: str, keys: dict[str, tuple[str, str]]) -> ast.expr:
    """The value where a branch does not assign `name`: the name as it was; a component that branch does
    not have is 0.0 there (components only describe the reward)."""
    if name in keys:
        d, k = keys[name]
        get = ast.Attribute(value=ast.Name(id=d, ctx=ast.Load()), attr="get", ctx=ast.Load())
        return ast.Call(func=get, args=[ast.Constant(k), ast.Constant(0.0)], keywords=[])
    return ast.Name(id=name, ctx=ast.Load())


def _value(statement: ast.Assign | ast.AugAssign, current: ast.expr) -> ast.expr:
    """What the statement assigns, `current` being the name's value before it."""
    if isinstance(statement, ast.Assign):
        return statement.value
    return ast.BinOp(left=current, op=statement.op, right=statement.value)


def _reads_only_itself(statement: ast.Assign | ast.AugAssign, names: set[str]) -> bool:
    """Whether the statement's value reads, of the names the `if` assigns, at most the one it assigns (whose
    value before the `if` is what it reads, so the choice can be made in one assignment)."""
    return not reads([statement.value], names - {_target(statement)})


def reads(nodes: Iterable[ast.AST], names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for node in nodes for n in ast.walk(node))


def if_converted(node: ast.If, defined: set[str], fresh: Fresh) -> list[ast.stmt] | None:
    """`if c: <assignments> else: <assignments>` as assignments choosing per environment, or None."""
    branches = [_branch(node.body), _branch(node.orelse)]
    if branches[0] is None or branches[1] is None or not (branches[0] or branches[1]):
        return None
    names = list(dict.fromkeys(_target(s) for branch in branches for s in branch))  # type: ignore[union-attr]
    keys = {
        _target(s): key
        for branch in branches
        for s in branch  # type: ignore[union-attr]
        if (key := _key(s.targets[0] if isinstance(s, ast.Assign) else s.target)) is not None
    }
    both = {_target(s) for s in branches[0]} & {_target(s) for s in branches[1]}  # type: ignore[union-attr]
    for branch in branches:  # a name read before this branch assigns it must exist before the `if`
        assigned: set[str] = set()
        for s in branch:  # type: ignore[union-attr]
            if isinstance(s, ast.AugAssign) and _target(s) not in assigned | defined:
                return None
            assigned.add(_target(s))
    if any(_bound(name) not in defined and name not in both for name in names):
        return None
    own = all(_reads_only_itself(s, set(names)) for branch in branches for s in branch)  # type: ignore[union-attr]
    once = all(len({_target(s) for s in b}) == len(b) for b in branches)  # type: ignore[arg-type]
    values = [s.value for branch in branches for s in branch]  # type: ignore[union-attr]
    if keys and not (once and own and not reads([node.test, *values], {d for d, _ in keys.values()})):
        return None  # a dict's keys are chosen only directly, from values that do not read the dict
    out: list[ast.stmt] = []
    test = node.test
    if len(names) > 1 and (reads([test], set(names)) or not (once and own)):
        cond = fresh("condition")
        out.append(ast.Assign(targets=[ast.Name(id=cond, ctx=ast.Store())], value=test))
        test = ast.Name(id=cond, ctx=ast.Load())
    if once and own:  # each name's two values read no other name the `if` assigns: choose them directly
        chosen = [
            {_target(s): _value(s, _kept(_target(s), keys)) for s in b}  # type: ignore[union-attr]
            for b in branches
        ]
    else:  # each branch computed into names of its own first, reading its own earlier assignments
        chosen = [
            _into_temps(branch, label, fresh, out)  # type: ignore[arg-type]
            for label, branch in zip(("if", "else"), branches, strict=True)
        ]
    for name in names:
        keep = _kept(name, keys)
        pick = np_call("where", test, chosen[0].get(name, keep), chosen[1].get(name, copy.deepcopy(keep)))
        out.append(ast.Assign(targets=[_store(name, keys)], value=pick))
    for statement in out:
        ast.fix_missing_locations(statement)
    return out


def _into_temps(
    branch: list[ast.Assign | ast.AugAssign], label: str, fresh: Fresh, out: list[ast.stmt]
) -> dict[str, ast.expr]:
    """Append the branch's assignments to `out`, each into a fresh name (`reward_if`) that the branch's later
    values read instead of the name; returns name -> its last fresh name."""
    renamed: dict[str, ast.expr] = {}
    for s in branch:
        name = _target(s)
        value = _Renamer(renamed).visit(copy.deepcopy(_value(s, ast.Name(id=name, ctx=ast.Load()))))
        temp = fresh(f"{name}_{label}")
        out.append(ast.Assign(targets=[ast.Name(id=temp, ctx=ast.Store())], value=value))
        renamed[name] = ast.Name(id=temp, ctx=ast.Load())
    return renamed


def stored(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _returns(nodes: Iterable[ast.AST]) -> bool:
    return any(isinstance(n, ast.Return) for n in own_nodes(list(nodes)))  # type: ignore[arg-type]


def early_return(statement: ast.stmt, rest: list[ast.stmt]) -> ast.If | None:
    """`if c: ...; return x` followed by the rest of the function, which returns only at its end, as the
    `if c: ...; return x else: <the rest>` it means; None for any other statement."""
    if not (isinstance(statement, ast.If) and not statement.orelse and rest):
        return None
    if not (isinstance(statement.body[-1], ast.Return) and isinstance(rest[-1], ast.Return)):
        return None
    if _returns(rest[:-1]):
        return None
    early = ast.copy_location(ast.If(test=statement.test, body=statement.body, orelse=rest), statement)
    early.end_lineno, early.end_col_offset = rest[-1].end_lineno, rest[-1].end_col_offset
    return early


def returns_converted(node: ast.If, fresh: Fresh, reward: bool) -> list[ast.stmt] | None:
    """`if c: <assignments>; return x else: <anything that returns only at its end, y>` as: the branch's
    assignments and x computed for every environment into names of their own, the other branch as written,
    then `return` x or y chosen per environment (element by element of a tuple; a components dict key by
    key, 0.0 where a branch has no such component: components only describe the reward). None where the
    branches do not have that shape."""
    body = _branch(node.body[:-1]) if node.body and isinstance(node.body[-1], ast.Return) else None
    rest = node.orelse
    if body is None or not rest or not isinstance(rest[-1], ast.Return) or _returns(rest[:-1]):
        return None
    if any("[" in _target(s) for s in body):
        return None  # a dict's key is chosen only by if_converted
    chosen, other = node.body[-1].value, rest[-1].value  # type: ignore[attr-defined]
    if chosen is None or other is None:
        return None
    if isinstance(chosen, ast.Tuple) != isinstance(other, ast.Tuple):
        return None
    if isinstance(chosen, ast.Tuple) and len(chosen.elts) != len(other.elts):  # type: ignore[union-attr]
        return None
    pairs = (
        list(zip(chosen.elts, other.elts, strict=True))
        if isinstance(chosen, ast.Tuple)
        else [(chosen, other)]
    )
    cond = fresh("condition")
    out: list[ast.stmt] = [ast.Assign(targets=[ast.Name(id=cond, ctx=ast.Store())], value=node.test)]
    renamed = _into_temps(body, "if", fresh, out)
    saved = []
    for i, (mine, _) in enumerate(pairs):
        temp = fresh("returned_if" if len(pairs) == 1 else f"returned_if_{i}")
        out.append(
            ast.Assign(targets=[ast.Name(id=temp, ctx=ast.Store())], value=_Renamer(renamed).visit(mine))
        )
        saved.append(ast.Name(id=temp, ctx=ast.Load()))
    out += rest[:-1]
    test = ast.Name(id=cond, ctx=ast.Load())
    merged = []
    for i, ((mine, theirs), kept) in enumerate(zip(pairs, saved, strict=True)):
        components = (
            isinstance(mine, ast.Dict)
            or isinstance(theirs, ast.Dict)
            or (reward and len(pairs) == 2 and i == 1)
        )
        if components:
            temp = fresh("returned_else" if len(pairs) == 1 else f"returned_else_{i}")
            out.append(ast.Assign(targets=[ast.Name(id=temp, ctx=ast.Store())], value=theirs))
            merged.append(_merged_dicts(test, kept, ast.Name(id=temp, ctx=ast.Load())))
        else:
            merged.append(np_call("where", test, kept, theirs))
    value = ast.Tuple(elts=merged, ctx=ast.Load()) if isinstance(chosen, ast.Tuple) else merged[0]
    out.append(ast.Return(value=value))
    for statement in out:
        ast.fix_missing_locations(statement)
    return out


def _merged_dicts(test: ast.expr, mine: ast.expr, theirs: ast.expr) -> ast.expr:
    """{key: np.where(test, mine.get(key, 0.0), theirs.get(key, 0.0)) for key in {**mine, **theirs}}"""
    key = ast.Name(id="key", ctx=ast.Load())

    def get(d: ast.expr) -> ast.expr:
        func = ast.Attribute(value=copy.deepcopy(d), attr="get", ctx=ast.Load())
        return ast.Call(func=func, args=[key, ast.Constant(0.0)], keywords=[])

    keys = ast.Dict(keys=[None, None], values=[copy.deepcopy(mine), copy.deepcopy(theirs)])
    loop = ast.comprehension(target=ast.Name(id="key", ctx=ast.Store()), iter=keys, ifs=[], is_async=0)
    return ast.DictComp(
        key=key, value=np_call("where", copy.deepcopy(test), get(mine), get(theirs)), generators=[loop]
    )


class _Renamer(ast.NodeTransformer):
    def __init__(self, renamed: dict[str, ast.expr]) -> None:
        self.renamed = renamed

    def visit_Name(self, node: ast.Name) -> ast.AST:
        new = self.renamed.get(node.id)
        return copy.deepcopy(new) if new is not None and isinstance(node.ctx, ast.Load) else node
