"""One environment's control flow, written element-wise where it meets the arrays of every environment.

Why: compute_reward is called on arrays of every environment at once (obs (n, d), done (n,)), yet a small
model writes it as for one environment: `if done:`, `a > 0 and b > 0`, `not done`, `x if c else y`,
`math.cos(t)`, `max(h, 0.0)`, `float(x)`. On arrays of n > 1 values each of these raises (numpy refuses the
truth of an array; math and float take one number), so such a candidate never ran. Told the element-wise
rewrite of its own line, the 1.5B model returned the same program in most repairs (bench/RESULTS.md, stop 30:
free-form rewards 0 of 12 trained, an `if` on arrays the first cause). So the harness writes what the model
meant:

- `a and b`, `a or b`, `not a` -> np.logical_and / np.logical_or / np.logical_not (each operand's truth per
  environment, as Python takes it for one), and a chained `a < b < c` -> np.logical_and(a < b, b < c);
- `x if c else y` -> np.where(c, x, y);
- an `if c:` statement whose branches only assign names -> both branches computed for every environment, then
  each name chosen per environment (if-conversion): `r = np.where(c, r + 10.0, r)`; one whose branches both
  return, or that returns early before the rest of the function -> one return choosing per environment (the
  `if` statements: tasks/reward/branches.py);
- `math.f(x)` -> np.f(x) where numpy has the same function; `max(a, b)` / `min(a, b)` of two values ->
  np.maximum / np.minimum; `float(x)` -> np.asarray(x, dtype=float); `int(x)` -> np.asarray(x).astype(int);

only where an operand is an array by a static reading of the function: its parameters (the arrays the trainer
passes) and what is computed from them, but not `len(x)`, `x.shape` or a reduction without an axis. Each
rewrite raised on arrays, so nothing that ran is changed where the reading is right; where it is wrong (the
operand is one number), the numpy form gives the same result for a boolean or a number, except that `and` and
`or` give a boolean where Python gives an operand. Left as written (the pre-check then names the line and the
fix): an `if` whose branches loop, return from within other code, or assign a name neither defined before nor
assigned in both branches, a `while`, anything nested in a `def`, `lambda` or class, and a name that reaches
the array reading only after MAX_PASSES passes.

Integrity: a source-to-source rewrite on the host with `ast` (nothing runs); the stored candidate is the
rewritten program, with a first comment naming what was rewritten, and that program is exactly what the search
and held-out verifiers judge and the next prompt shows. No check is skipped: a rewritten candidate that still
fails gets its verdict. Hostile input (deep nesting, line breaks other than a newline) leaves the source as it
was, and the reading costs about linear time in the answer's length (a hostile 84 KB answer: 0.4 s).
"""

from __future__ import annotations

import ast
import copy

from tasks.reward.branches import (
    early_return,
    if_converted,
    np_call,
    own_nodes,
    reads,
    returns_converted,
    stored,
)

#: math's functions numpy has under the same meaning, by numpy's name where it differs
MATH_TO_NUMPY = {
    **{name: name for name in ("sqrt", "exp", "log", "log10", "log2", "log1p", "expm1", "floor", "ceil")},
    **{name: name for name in ("cos", "sin", "tan", "cosh", "sinh", "tanh", "hypot", "copysign", "degrees")},
    **{name: name for name in ("radians", "isnan", "isinf", "isfinite", "trunc")},
    "acos": "arccos", "asin": "arcsin", "atan": "arctan", "atan2": "arctan2", "fabs": "abs", "pow": "power",
}  # fmt: skip
#: attributes of an array that are not arrays of environments
SCALAR_ATTRIBUTES = frozenset({"shape", "ndim", "size", "dtype", "itemsize", "nbytes"})
#: calls that make one number of an array unless told an axis (np.sum(x), x.mean(), np.linalg.norm(x))
REDUCTIONS = frozenset(
    {"any", "all", "sum", "mean", "max", "min", "std", "var", "prod", "median", "count_nonzero", "argmax"}
    | {"argmin", "item", "nansum", "nanmean", "nanmax", "nanmin", "norm", "ptp", "average"}
)
#: numpy's constructors of an array of a given length (one value per environment when given len(obs))
CONSTRUCTORS = frozenset({"zeros", "ones", "full", "empty", "arange", "linspace"})
SCALAR_BUILTINS = frozenset({"len", "isinstance", "range", "type", "id", "hash", "repr", "str"})
LIBRARIES = frozenset({"np", "numpy", "math"})
#: characters `str.splitlines` or Python's tokenizer take for a line break, besides "\n"
OTHER_LINE_BREAKS = ("\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
#: passes of the array reading's fixed point: a function read in order needs one or two; a hostile chain of
#: assignments written in reverse needed one per name (3000 names: seconds of the orchestrator's time)
MAX_PASSES = 8


def rewrite(source: str) -> str:
    """`source` with every compute_reward-module function's one-environment habits written element-wise,
    and a first comment saying what was; the source unchanged where nothing is (or it does not parse)."""
    if any(separator in source for separator in OTHER_LINE_BREAKS):
        return source  # line numbers would not match `ast`'s, nor the note stay one comment line
    try:
        tree = ast.parse(source)
        edits, said = _edits(tree, source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source
    if not edits:
        return source
    lines = source.split("\n")
    for first, last, text in sorted(edits, reverse=True):
        lines[first - 1 : last] = text.splitlines()
    shown = ", ".join(said[:4]) + (" ..." if len(said) > 4 else "")
    note = f"# assay: wrote {shown} element-wise: compute_reward gets arrays of every environment at once;"
    return "\n".join([note, *lines]).rstrip() + "\n"


def _edits(tree: ast.Module, source: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(first line, last line, replacement) per rewritten statement, and what each rewrite was."""
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = [line.encode("utf-8") for line in source.split("\n")]  # `ast` counts columns in UTF-8 bytes
    edits: list[tuple[int, int, str]] = []
    said: list[str] = []
    for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        args = function.args
        params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        writer = _Writer(_arrays(function), params, taken, lines, reward=function.name == "compute_reward")
        body = function.body
        for i, statement in enumerate(body):
            early = early_return(statement, body[i + 1 :])
            new = None
            if early is not None and writer._array(early.test):
                defined = set(writer.defined)
                new = writer.statements(early)
                writer.defined = defined
            if new is None:
                new = writer.statements(statement)
            else:
                statement = early  # the `if` and the rest of the function, as one `if ... else`
            if new is None:
                continue
            if _shares_a_line(statement, lines):
                raise ValueError("a rewritten statement shares its line")  # rare (`a; b`): leave it all
            indent = " " * statement.col_offset
            text = "\n".join(indent + line for s in new for line in ast.unparse(s).splitlines())
            edits.append((statement.lineno, statement.end_lineno or statement.lineno, text))
            if statement is early:
                break
        said += writer.said
    return edits, said


def _shares_a_line(statement: ast.stmt, lines: list[bytes]) -> bool:
    """Whether other code shares the statement's first or last line (`a = 1; if done: ...`): replacing its
    lines would replace that code too. Read from the line's text, so it costs the same for any module."""
    first, last = lines[statement.lineno - 1], lines[(statement.end_lineno or statement.lineno) - 1]
    after = last[statement.end_col_offset or len(last) :].strip()
    return bool(first[: statement.col_offset].strip()) or bool(after and not after.startswith(b"#"))


# ----- which names hold arrays of environments ------------------------------------------------------------
def _arrays(function: ast.FunctionDef) -> set[str]:
    """The names of `function` that hold arrays: its parameters without a default (compute_reward's four,
    a helper's observation), and, to a fixed point, the names assigned from an array-valued expression.
    A loop's variable is not one (a loop over environments takes one at a time)."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    names = {a.arg for a in positional[: len(positional) - len(args.defaults)]}
    if function.name == "compute_reward":
        names |= {a.arg for a in positional}
    assignments = [n for n in own_nodes(function.body) if isinstance(n, ast.Assign | ast.AugAssign)]
    assignments += [n for n in own_nodes(function.body) if isinstance(n, ast.AnnAssign) and n.value]
    assignments.sort(key=lambda n: (n.lineno, n.col_offset))  # in order: most functions need one pass
    for _ in range(MAX_PASSES):
        before = len(names)
        for node in assignments:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= _array_targets(target, node.value, names)  # type: ignore[arg-type]
        if len(names) == before:
            break
    return names


def _array_targets(target: ast.expr, value: ast.expr, arrays: set[str]) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id} if is_array(value, arrays) else set()
    if isinstance(target, ast.Tuple | ast.List):
        if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
            return set().union(
                *(_array_targets(t, v, arrays) for t, v in zip(target.elts, value.elts, strict=True))
            )
        if is_array(value, arrays):  # `pos, vel = obs.T`
            return {t.id for t in target.elts if isinstance(t, ast.Name)}
    return set()


def _dotted(node: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _reduces(call: ast.Call) -> bool:
    """A call that makes one number of its array: a reduction without an axis, len(), a scalar builtin."""
    name = _dotted(call.func)
    head, _, last = name.rpartition(".")
    if any(k.arg in ("axis", "keepdims") for k in call.keywords):
        return False
    if name in SCALAR_BUILTINS:
        return True
    if last in REDUCTIONS and head.split(".")[0] in ("np", "numpy"):
        return len(call.args) <= 1
    if last in REDUCTIONS and isinstance(call.func, ast.Attribute) and head.split(".")[0] not in LIBRARIES:
        return not call.args  # x.sum(), not x.sum(1)
    return False


def is_array(node: ast.expr | None, arrays: set[str]) -> bool:
    """Whether `node` is (statically read) an array of environments, given the names that hold one."""
    if node is None or isinstance(node, ast.Constant):
        return False
    if isinstance(node, ast.Name):
        return node.id in arrays
    if isinstance(node, ast.Attribute):
        return node.attr not in SCALAR_ATTRIBUTES and is_array(node.value, arrays)
    if isinstance(node, ast.Subscript):
        return is_array(node.value, arrays) or is_array(node.slice, arrays)
    if isinstance(node, ast.Call):
        if _reduces(node):
            return False
        if _dotted(node.func).split(".")[-1] in CONSTRUCTORS and reads(node.args, arrays):
            return True  # np.zeros(len(obs)): one value per environment
        values = [*node.args, *(k.value for k in node.keywords)]
        return any(is_array(v, arrays) for v in values) or (
            isinstance(node.func, ast.Attribute) and is_array(node.func.value, arrays)
        )
    if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return False
    return any(is_array(child, arrays) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))


# ----- the rewrite ------------------------------------------------------------------------------------------
class _Writer(ast.NodeTransformer):
    """Rewrites one function's statements (see the module's docstring); `said` lists what it rewrote."""

    def __init__(
        self, arrays: set[str], params: set[str], taken: set[str], lines: list[bytes], *, reward: bool = False
    ) -> None:
        self.reward = reward  # compute_reward: a 2-tuple it returns is (reward, components)
        self.arrays = arrays
        self.taken = taken
        self.lines = lines  # the module's lines, as UTF-8
        self.said: list[str] = []
        self.defined: set[str] = set(params)  # names bound before the statement being rewritten

    def statements(self, statement: ast.stmt) -> list[ast.stmt] | None:
        """The rewrite of one of the function's statements, or None where it is left as written."""
        count = len(self.said)
        new = self.visit(copy.deepcopy(statement))
        self.defined |= stored(statement)
        if len(self.said) == count:
            return None
        return new if isinstance(new, list) else [new]

    def _block(self, statements: list[ast.stmt]) -> list[ast.stmt]:
        """A branch's statements rewritten in order, each seeing the names the ones before it bound."""
        defined, out = set(self.defined), []
        for statement in statements:
            new = self.visit(statement)
            out += new if isinstance(new, list) else [new]
            self.defined |= stored(statement)
        self.defined = defined
        return out

    def _say(self, node: ast.expr, how: str, prefix: str = "") -> None:
        """Note what was rewritten, by the first line of its own text (a slice of one line: a search of the
        module per rewrite, as `ast.get_source_segment` does, was most of a long answer's rewrite time)."""
        line = self.lines[node.lineno - 1]
        end = node.end_col_offset if node.end_lineno == node.lineno else len(line)
        text = line[node.col_offset : end].decode("utf-8", "replace")
        self.said.append(f"`{prefix}{text[:60]}` ({how})")

    def _array(self, node: ast.expr) -> bool:
        return is_array(node, self.arrays)

    # nested scopes are left as written
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        array = any(map(self._array, node.values))
        self.generic_visit(node)
        if not array:
            return node
        name = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
        self._say(node, f"np.{name}")
        out = node.values[0]
        for value in node.values[1:]:
            out = np_call(name, out, value)
        return ast.copy_location(out, node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        array = isinstance(node.op, ast.Not) and self._array(node.operand)
        self.generic_visit(node)
        if not array:
            return node
        self._say(node, "np.logical_not")
        return ast.copy_location(np_call("logical_not", node.operand), node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        """`a < b < c` is `a < b and b < c` to Python, which raises on arrays."""
        array = len(node.ops) > 1 and any(map(self._array, [node.left, *node.comparators]))
        self.generic_visit(node)
        if not array:
            return node
        self._say(node, "np.logical_and")
        operands = [node.left, *node.comparators]
        pairs = [
            ast.Compare(left=copy.deepcopy(a), ops=[op], comparators=[copy.deepcopy(b)])
            for a, op, b in zip(operands, node.ops, operands[1:], strict=False)
        ]
        out: ast.expr = pairs[0]
        for pair in pairs[1:]:
            out = np_call("logical_and", out, pair)
        return ast.copy_location(out, node)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        array = self._array(node.test)
        self.generic_visit(node)
        if not array:
            return node
        self._say(node, "np.where")
        return ast.copy_location(np_call("where", node.test, node.body, node.orelse), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        array = any(map(self._array, node.args))
        name = _dotted(node.func)
        self.generic_visit(node)
        if not array or node.keywords:
            return node
        head, _, last = name.rpartition(".")
        new: ast.expr | None = None
        if head == "math" and last in MATH_TO_NUMPY:
            new = np_call(MATH_TO_NUMPY[last], *node.args)
        elif (
            name in ("max", "min")
            and len(node.args) >= 2
            and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            new = node.args[0]
            for arg in node.args[1:]:
                new = np_call("maximum" if name == "max" else "minimum", new, arg)
        elif name == "float" and len(node.args) == 1:
            new = np_call("asarray", node.args[0], dtype=ast.Name(id="float", ctx=ast.Load()))
        elif name == "int" and len(node.args) == 1:
            astype = ast.Attribute(value=np_call("asarray", node.args[0]), attr="astype", ctx=ast.Load())
            new = ast.Call(func=astype, args=[ast.Name(id="int", ctx=ast.Load())], keywords=[])
        if new is None:
            return node
        self._say(node, f"np.{new.func.attr if isinstance(new.func, ast.Attribute) else name}")  # type: ignore[union-attr]
        return ast.copy_location(new, node)

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
        array = self._array(node.test)
        said = len(self.said)
        original = copy.deepcopy(node)
        node.test = self.visit(node.test)
        in_test = len(self.said)
        node.body, node.orelse = self._block(node.body), self._block(node.orelse)
        if not array:
            return node
        converted = if_converted(node, self.defined, self._fresh)
        if converted is None:
            converted = returns_converted(node, self._fresh, self.reward)
        if converted is None:  # left as written, inner rewrites and all: the pre-check names the `if`
            del self.said[said:]
            return original
        del self.said[said:in_test]  # `if a and b` says the `if`, not its `and` as well
        self._say(original.test, "np.where", prefix="if ")
        return [ast.copy_location(s, node) for s in converted]

    def _fresh(self, base: str) -> str:
        name, i = base, 2
        while name in self.taken or name in self.defined:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name
