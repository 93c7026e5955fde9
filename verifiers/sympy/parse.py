"""Turn an untrusted answer string into a SymPy expression without ever evaluating it as code.

`sympify` and `parse_expr` call `eval`, so a model answer like `__import__('os').system(...)` would run.
Plain answers are parsed with `ast` and every node is checked against a whitelist while the SymPy
expression is built node by node, so nothing outside the whitelist can even be reached. LaTeX answers go
through latex2sympy2_extended, an ANTLR grammar that builds SymPy objects directly. Both run inside the
check's child process, whose rlimits and wall-clock kill bound what a hostile `9**9**9` can cost.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping

import sympy as sp

from verifiers.sympy.notation import (
    AnswerParseError,
    evaluate_sums,
    finish_latex,
    normalise_latex,
    rewrite_bars,
    rewrite_factorials,
)

__all__ = ["AnswerParseError", "parse_expression", "parse_expression_list", "split_top_level"]

MAX_ANSWER_CHARS = 2000
MAX_NODES = 5000
#: a sum of n terms is n levels deep in the syntax tree
MAX_DEPTH = 200
PLAIN_FORMAT_HINT = (
    "write a plain SymPy/Python expression such as 3*x**2*sin(x) + exp(-x)/2 + sqrt(x) + log(x) "
    "(^ also means power; |x|, n! and binomial(n, k) work too), or LaTeX such as \\frac{x^{2}}{2} + \\sin(x)"
)


def _log(arg: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
    return sp.log(arg) if base is None else sp.log(arg, base)


#: callable name -> (builder, min args, max args)
FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int]] = {
    "sin": (sp.sin, 1, 1),
    "cos": (sp.cos, 1, 1),
    "tan": (sp.tan, 1, 1),
    "cot": (sp.cot, 1, 1),
    "sec": (sp.sec, 1, 1),
    "csc": (sp.csc, 1, 1),
    "asin": (sp.asin, 1, 1),
    "acos": (sp.acos, 1, 1),
    "atan": (sp.atan, 1, 1),
    "acot": (sp.acot, 1, 1),
    "arcsin": (sp.asin, 1, 1),
    "arccos": (sp.acos, 1, 1),
    "arctan": (sp.atan, 1, 1),
    "sinh": (sp.sinh, 1, 1),
    "cosh": (sp.cosh, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "asinh": (sp.asinh, 1, 1),
    "acosh": (sp.acosh, 1, 1),
    "atanh": (sp.atanh, 1, 1),
    "exp": (sp.exp, 1, 1),
    "log": (_log, 1, 2),
    "ln": (sp.log, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "cbrt": (sp.cbrt, 1, 1),
    "Abs": (sp.Abs, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "sign": (sp.sign, 1, 1),
    "floor": (sp.floor, 1, 1),
    "ceiling": (sp.ceiling, 1, 1),
    "factorial": (sp.factorial, 1, 1),
    "factorial2": (sp.factorial2, 1, 1),
    "gamma": (sp.gamma, 1, 1),
    "Gamma": (sp.gamma, 1, 1),
    "binomial": (sp.binomial, 2, 2),
    "comb": (sp.binomial, 2, 2),
    "choose": (sp.binomial, 2, 2),
    "nCr": (sp.binomial, 2, 2),
    "nPr": (sp.ff, 2, 2),
    "perm": (sp.ff, 2, 2),
    "ff": (sp.ff, 2, 2),
    "rf": (sp.rf, 2, 2),
    "erf": (sp.erf, 1, 1),
    "Rational": (sp.Rational, 2, 2),
    "O": (sp.Order, 1, 1),
    "Eq": (sp.Eq, 2, 2),
}

#: names that are a function only when called with two arguments: `C(n, k)` is n choose k, but `C` alone
#: (a constant of integration) and `C(x + 1)` (implicit multiplication) keep their plain meaning
PAIR_FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {"C": sp.binomial, "P": sp.ff}

#: sums and products: `Sum(k**2, (k, 1, n))`; evaluated to closed form after parsing (see notation.py)
BOUND_FUNCTIONS: dict[str, type[sp.Sum] | type[sp.Product]] = {
    "Sum": sp.Sum,
    "summation": sp.Sum,
    "Product": sp.Product,
    "product": sp.Product,
}
MAX_LIMITS = 3

CONSTANTS: dict[str, sp.Expr] = {
    "E": sp.E,
    "e": sp.E,
    "pi": sp.pi,
    "I": sp.I,
    "oo": sp.oo,
    "inf": sp.oo,
    "infinity": sp.oo,
}

#: unevaluated calculus that would let an answer restate the question (`Integral(f, x)` as an antiderivative);
#: sums and products are not here: they are evaluated to closed form, or refused when SymPy cannot
FORBIDDEN_RESULTS: tuple[type, ...] = (
    sp.Integral,
    sp.Derivative,
    sp.Limit,
    sp.Subs,
)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")
_IMPLICIT_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?)(?![eE][+-]?\d)(?=[A-Za-z_(])")
_IMPLICIT_PAREN = re.compile(r"\)\s*(?=[\w(])")
_ASSIGNMENT = re.compile(
    r"^\s*[A-Za-z][\w']*\s*(?:(?:\\left)?\(\s*[A-Za-z]\w*\s*(?:\\right)?\))?\s*=(?!=)(?P<rhs>.*)$", re.DOTALL
)
_UNICODE = {"−": "-", "·": "*", "×": "*", "π": "pi", "∞": "oo", "²": "**2", "³": "**3"}


def strip_assignment(text: str) -> str:
    """`y(x) = 3*exp(x)` -> `3*exp(x)`: models often restate the unknown before the answer."""
    match = _ASSIGNMENT.match(text)
    return match.group("rhs").strip() if match else text.strip()


def _normalise_plain(text: str, implicit_multiplication: bool) -> str:
    for src, dst in _UNICODE.items():
        text = text.replace(src, dst)
    text = text.strip().rstrip(".").replace("^", "**")
    text = rewrite_bars(text, implicit_multiplication)
    if implicit_multiplication:
        text = _IMPLICIT_NUMBER.sub(r"\1*", text)
    text = rewrite_factorials(text, FUNCTIONS, implicit_multiplication)
    if implicit_multiplication:
        text = _IMPLICIT_PAREN.sub(")*", text)
    return text


class _Builder:
    """Builds a SymPy expression from a whitelisted Python AST; anything else raises AnswerParseError."""

    def __init__(self, allow_collections: bool, implicit_multiplication: bool) -> None:
        self.allow_collections = allow_collections
        self.implicit_multiplication = implicit_multiplication
        self.nodes = 0
        self.depth = 0

    def build(self, node: ast.AST, top: bool = False) -> sp.Basic | list[sp.Basic]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise AnswerParseError("the answer is too long")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise AnswerParseError(
                f"the answer is nested too deeply (more than {MAX_DEPTH} levels); simplify it"
            )
        try:
            return self._build(node, top)
        finally:
            self.depth -= 1

    def _build(self, node: ast.AST, top: bool) -> sp.Basic | list[sp.Basic]:
        if isinstance(node, ast.Constant):
            return self._constant(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self._expr(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            if not (top and self.allow_collections):
                raise AnswerParseError("a list, tuple or set is only allowed as the whole answer")
            return [self._expr(elt) for elt in node.elts]
        raise AnswerParseError(f"{_describe(node)} is not allowed in an answer; {PLAIN_FORMAT_HINT}")

    def _expr(self, node: ast.AST) -> sp.Basic:
        built = self.build(node)
        if isinstance(built, list):  # pragma: no cover - build() only returns lists at top level
            raise AnswerParseError("a list is not allowed inside an expression")
        return built

    @staticmethod
    def _constant(value: object) -> sp.Basic:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AnswerParseError(f"the literal {value!r} is not a number; {PLAIN_FORMAT_HINT}")
        if isinstance(value, int):
            return sp.Integer(value)
        return sp.Float(repr(value))

    @staticmethod
    def _name(name: str) -> sp.Basic:
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS or name in BOUND_FUNCTIONS:
            raise AnswerParseError(f"{name} is a function: call it with an argument, e.g. {name}(x)")
        if not _NAME.match(name) or "__" in name:
            raise AnswerParseError(f"the name {name!r} is not allowed as a variable")
        return sp.Symbol(name)

    def _binop(self, node: ast.BinOp) -> sp.Basic:
        ops: dict[type, Callable[[sp.Basic, sp.Basic], sp.Basic]] = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b,
            ast.Pow: lambda a, b: a**b,
        }
        op = ops.get(type(node.op))
        if op is None:
            raise AnswerParseError(
                f"the operator {type(node.op).__name__} is not allowed; use + - * / and ** (or ^) only"
            )
        return op(self._expr(node.left), self._expr(node.right))

    def _call(self, node: ast.Call) -> sp.Basic:
        if not isinstance(node.func, ast.Name):
            raise AnswerParseError(f"{_describe(node.func)} cannot be called; only plain function names can")
        name = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise AnswerParseError(f"{name}(...) takes plain positional arguments only")
        if name in BOUND_FUNCTIONS:
            return self._bound(name, node.args)
        if name in PAIR_FUNCTIONS and len(node.args) == 2:
            return PAIR_FUNCTIONS[name](*(self._expr(a) for a in node.args))
        if name not in FUNCTIONS:
            if self.implicit_multiplication and len(node.args) == 1 and name not in CONSTANTS:
                return self._name(name) * self._expr(node.args[0])  # x(x+1) means x*(x+1)
            allowed = ", ".join(sorted([*FUNCTIONS, *BOUND_FUNCTIONS]))
            raise AnswerParseError(f"unknown function {name!r}; the allowed functions are: {allowed}")
        builder, lo, hi = FUNCTIONS[name]
        if not lo <= len(node.args) <= hi:
            count = str(lo) if lo == hi else f"{lo} or {hi}"
            raise AnswerParseError(f"{name} takes {count} argument(s), got {len(node.args)}")
        args = [self._expr(a) for a in node.args]
        if name == "Rational" and not all(isinstance(a, sp.Integer) for a in args):
            raise AnswerParseError("Rational(p, q) takes two integers")
        return builder(*args)

    def _bound(self, name: str, args: list[ast.expr]) -> sp.Basic:
        """`Sum(f, (k, a, b), ...)`: the limit tuples are read here, since tuples are not expressions."""
        usage = f"{name}(f, (k, a, b)) takes a summand and one to {MAX_LIMITS} limits (index, low, high)"
        if not 2 <= len(args) <= MAX_LIMITS + 1:
            raise AnswerParseError(usage)
        limits: list[tuple[sp.Basic, ...]] = []
        for limit in args[1:]:
            if not (isinstance(limit, ast.Tuple) and len(limit.elts) == 3):
                raise AnswerParseError(usage)
            index = self._expr(limit.elts[0])
            if not isinstance(index, sp.Symbol):
                raise AnswerParseError(f"the index of {name}(...) must be a variable name, as in (k, 1, n)")
            limits.append((index, self._expr(limit.elts[1]), self._expr(limit.elts[2])))
        return BOUND_FUNCTIONS[name](self._expr(args[0]), *limits)


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access (a.b)",
        ast.Subscript: "indexing (a[b])",
        ast.Lambda: "a lambda",
        ast.Compare: "a comparison (use Eq(a, b) for an equation)",
        ast.BoolOp: "and/or",
        ast.IfExp: "a conditional expression",
        ast.ListComp: "a comprehension",
        ast.GeneratorExp: "a generator expression",
        ast.Dict: "a dict",
        ast.JoinedStr: "an f-string",
        ast.NamedExpr: "an assignment expression",
    }
    return kinds.get(type(node), f"the construct {type(node).__name__}")


def _parse_plain(text: str, allow_collections: bool, implicit_multiplication: bool) -> sp.Basic | list:
    source = _normalise_plain(text, implicit_multiplication)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise AnswerParseError(f"syntax error in {text!r}: {exc.msg}; {PLAIN_FORMAT_HINT}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise AnswerParseError(f"could not read {text[:80]!r}: {exc}") from None
    return _Builder(allow_collections, implicit_multiplication).build(tree.body, top=True)


def _parse_latex(text: str) -> sp.Basic:
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig, latex2sympy

    config = ConversionConfig(interpret_as_mixed_fractions=False, lowercase_symbols=False)
    try:
        result = latex2sympy(normalise_latex(text), conversion_config=config)
    except RecursionError:
        raise AnswerParseError("the LaTeX answer is nested too deeply; simplify it") from None
    except MemoryError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnswerParseError(f"could not parse the LaTeX {text[:200]!r}: {first[:200]}") from None
    if not isinstance(result, sp.Basic):
        raise AnswerParseError(f"the LaTeX {text[:200]!r} is not a single expression")
    return finish_latex(result)


def looks_like_latex(text: str) -> bool:
    return "\\" in text


def parse_expression(
    text: str,
    symbols: Mapping[str, sp.Symbol] | None = None,
    *,
    implicit_multiplication: bool = True,
    allow_order: bool = False,
) -> sp.Expr:
    """One expression from an untrusted answer; names in `symbols` map to those (e.g. real) symbols."""
    text = text.strip().strip("$").strip()
    if not text:
        raise AnswerParseError("the answer is empty")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerParseError(f"the answer is too long ({len(text)} characters, at most {MAX_ANSWER_CHARS})")
    text = strip_assignment(text)
    if looks_like_latex(text):
        result: sp.Basic | list = _parse_latex(text)
    else:
        try:
            result = _parse_plain(text, False, implicit_multiplication)
        except AnswerParseError:
            if "{" not in text:
                raise
            result = _parse_latex(text)  # e.g. x^{2}: LaTeX without a backslash
    assert not isinstance(result, list)
    return _finish(result, symbols, allow_order)


def _finish(result: sp.Basic, symbols: Mapping[str, sp.Symbol] | None, allow_order: bool) -> sp.Expr:
    if isinstance(result, sp.Equality):
        lhs, rhs = result.args
        if isinstance(lhs, sp.Symbol | sp.core.function.AppliedUndef):
            result = rhs  # Eq(y, ...) restates the unknown
        else:
            raise AnswerParseError("expected an expression, not an equation")
    if not isinstance(result, sp.Expr):
        raise AnswerParseError(f"expected a single expression, got a {type(result).__name__}")
    if result.has(*FORBIDDEN_RESULTS):
        raise AnswerParseError(
            "the answer must be in closed form: unevaluated integrals, derivatives or limits are not accepted"
        )
    if result.has(sp.Order):
        if not allow_order:
            raise AnswerParseError("O(...) terms are not allowed in this answer")
        result = result.removeO()
        if result.has(sp.Order):
            raise AnswerParseError("an O(...) term may only appear as the last term of a sum")
    if symbols:
        by_name = {sp.Symbol(name): sym for name, sym in symbols.items()}
        result = result.xreplace(by_name)
    return evaluate_sums(result)


_OUTER = (("\\left\\{", "\\right\\}"), ("\\{", "\\}"), ("\\left[", "\\right]"), ("[", "]"), ("{", "}"))
_EMPTY = {"", "none", "no real roots", "no roots", "\\emptyset", "\\varnothing", "{}", "[]", "\\{\\}", "∅"}
_WORD_SEPARATORS = re.compile(r"\s+(?:or|and)\s+|\\text\{\s*(?:or|and)\s*\}")
_PLUS_MINUS = ("\\pm", "±")


def split_top_level(text: str, separators: str = ",;") -> list[str]:
    """Split on separators outside (), [], {} so `log(x, 2)` and `\\frac{1}{2}` stay whole."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in separators and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_expression_list(
    text: str, symbols: Mapping[str, sp.Symbol] | None = None, *, max_items: int = 50
) -> list[sp.Expr]:
    """A comma-separated list of values (`1, -2`, `{1, -2}`, `x = 1, x = -2`, `\\pm\\sqrt{2}`)."""
    text = text.strip().strip("$").strip().rstrip(".")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerParseError(f"the answer is too long ({len(text)} characters, at most {MAX_ANSWER_CHARS})")
    if text.lower() in _EMPTY:
        return []
    for left, right in _OUTER:
        if text.startswith(left) and text.endswith(right):
            text = text[len(left) : len(text) - len(right)].strip()
            break
    if text.lower() in _EMPTY:
        return []
    items = [item for item in split_top_level(text) if item]
    if len(items) == 1:
        items = [i.strip() for i in _WORD_SEPARATORS.split(items[0]) if i.strip()]
    if len(items) > max_items:
        raise AnswerParseError(f"too many values ({len(items)}, at most {max_items})")
    values: list[sp.Expr] = []
    for item in items:
        for variant in _expand_plus_minus(strip_assignment(item)):
            values.append(parse_expression(variant, symbols))
    return values


def _expand_plus_minus(item: str) -> list[str]:
    for token in _PLUS_MINUS:
        if token in item:
            head, _, tail = item.partition(token)
            return [f"{head}+{tail}", f"{head}-{tail}"]
    return [item]
