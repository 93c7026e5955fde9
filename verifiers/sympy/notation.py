"""The notations people write that no parser reads as such: `|x|`, `n!`, `C(n, k)`, `\\sum\\limits`, sums.

Why this exists: the plain parser reads Python syntax (`ast`), where `|` is bit-or and `!` a syntax error,
so a correct `|x| + n!` used to be refused. These are rewritten *textually* into calls of whitelisted
functions (`Abs(...)`, `factorial(...)`) before `ast.parse`; the rewritten text then goes through the same
node-by-node whitelist as any other answer, so nothing here evaluates text. LaTeX answers get the few
spellings latex2sympy does not know (`\\limits`, `\\abs{}`, `C(n, k)`) mapped onto ones it does.

A sum or product (`Sum(k, (k, 1, n))`, `\\sum_{k=1}^{n} k`) is accepted when SymPy evaluates it to a closed
form: it is the same value, just written another way. One SymPy cannot evaluate is still refused, because
numeric comparison at sample points cannot judge an unevaluated sum with a symbolic bound.
This module is lowest in the package, so the parse error lives here and `parse` re-exports it.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import sympy as sp


class AnswerParseError(ValueError):
    """The answer is not a well-formed expression in the accepted syntax; the message is for the model."""


#: a token ending here can be followed by a closing bar or a `!`
_OPERAND_END = frozenset("_)!.'")
_TRAILING_TOKEN = re.compile(r"[A-Za-z0-9_.]+$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_LATEX_DROPPED = re.compile(r"\\(?:limits|nolimits|displaystyle|textstyle)(?![A-Za-z])")
_LATEX_C = re.compile(r"\\(?:operatorname|mathrm|text|mathit)\{\s*C\s*\}")
_LATEX_ABS = "\\abs{"
#: two-argument functions latex2sympy leaves undefined, by the name it gives them
_LATEX_PAIRS = {"C": sp.binomial, "\\text{C}": sp.binomial}


def _is_operand_end(ch: str) -> bool:
    return ch.isalnum() or ch in _OPERAND_END


def rewrite_bars(text: str, implicit_multiplication: bool) -> str:
    """`|x - 1|` -> `Abs(x - 1)`. A bar closes when one is open and it follows an operand, else it opens.

    That reads `|x|*|y|`, `||x| - 1|` and `x|x|` (x times |x|) the way people mean them.
    """
    if "|" not in text:
        return text
    out: list[str] = []
    depth = 0
    last = ""  # the last non-blank character, with bars already translated
    for ch in text:
        if ch != "|":
            out.append(ch)
            if not ch.isspace():
                last = ch
            continue
        if depth and _is_operand_end(last):
            out.append(")")
            depth -= 1
            last = ")"
            continue
        if _is_operand_end(last):
            out.append("*" if implicit_multiplication else " ")
        out.append("Abs(")
        depth += 1
        last = "("
    if depth:
        raise AnswerParseError(
            "unbalanced absolute-value bars: every |...| needs an opening and a closing bar"
        )
    return "".join(out)


def _matching_open(text: str, close: int) -> int:
    depth = 0
    for i in range(close, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                return i
    raise AnswerParseError("unbalanced parentheses before `!`")


def _operand_start(text: str, functions: Collection[str]) -> int:
    """Where the operand that ends `text` starts: a number, a name, or a bracket (with its function name)."""
    if text.endswith(")"):
        start = _matching_open(text, len(text) - 1)
        name = _NAME.search(text[:start])
        if name and name.group() in functions:
            start = name.start()
        return start
    token = _TRAILING_TOKEN.search(text)
    if token is None:
        raise AnswerParseError(
            "`!` (factorial) must follow a number, a name or a closing bracket, as in n! or (n+1)!"
        )
    return token.start()


def rewrite_factorials(text: str, functions: Collection[str], implicit_multiplication: bool) -> str:
    """`n!` -> `factorial(n)`, `(n+1)!` -> `factorial((n+1))`, `n!!` -> `factorial2(n)`; `!=` is left alone.

    `functions` are the callable names, so `sin(x)!` takes the whole call as its operand, while `x(x+1)!`
    (x times (x+1)!, as the plain parser reads `x(...)`) keeps its product.
    """
    if "!" not in text:
        return text
    out = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "!" or text[i + 1 : i + 2] == "=":
            out += ch
            i += 1
            continue
        double = text[i + 1 : i + 2] == "!"
        out = out.rstrip()
        start = _operand_start(out, functions)
        name = "factorial2" if double else "factorial"
        head = out[:start]
        if head and _is_operand_end(head[-1]):
            head += "*" if implicit_multiplication else " "
        out = f"{head}{name}({out[start:]})"
        i += 2 if double else 1
    return out


def _replace_braced(text: str, opener: str, left: str, right: str) -> str:
    """Replace `opener...}` (braces balanced) by `left...right`; an unclosed one is left for the parser."""
    while opener in text:
        start = text.index(opener)
        depth = 1
        for end in range(start + len(opener), len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        else:
            return text
        text = f"{text[:start]}{left}{text[start + len(opener) : end]}{right}{text[end + 1 :]}"
    return text


def normalise_latex(text: str) -> str:
    """Map spellings latex2sympy rejects onto ones it reads: `\\limits`, `\\abs{x}`, `\\operatorname{C}`."""
    text = _LATEX_DROPPED.sub("", text)
    text = _LATEX_C.sub("C", text)
    return _replace_braced(text, _LATEX_ABS, "\\left|", "\\right|")


def finish_latex(result: sp.Basic) -> sp.Basic:
    """`C(n, k)` in LaTeX comes back as an undefined function `C`: make it the binomial coefficient."""

    def is_pair(e: sp.Basic) -> bool:
        return (
            isinstance(e, sp.core.function.AppliedUndef)
            and e.func.__name__ in _LATEX_PAIRS
            and len(e.args) == 2
        )

    if not result.has(sp.core.function.AppliedUndef):
        return result
    return result.replace(is_pair, lambda e: _LATEX_PAIRS[e.func.__name__](*e.args))


def evaluate_sums(expr: sp.Expr) -> sp.Expr:
    """Evaluate every Sum and Product; refuse one that SymPy leaves unevaluated.

    Only Sum/Product nodes are evaluated (never a global `doit()`), and callers refuse unevaluated
    integrals, derivatives and limits first, so an answer cannot restate an integral as `Sum(Integral(...))`.
    Cost is bounded by the check's child process: a hostile summand times out there.
    """
    kinds = (sp.Sum, sp.Product)
    if not expr.has(*kinds):
        return expr
    evaluated = expr.replace(lambda e: isinstance(e, kinds), lambda e: e.doit())
    if evaluated.has(*kinds):
        raise AnswerParseError(
            "SymPy could not evaluate the sum or product in your answer; give it in closed form"
        )
    return evaluated
