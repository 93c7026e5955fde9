"""The undefined-names pre-check: a loss that names something it never bound, told so before any training.

A small model's commonest failure is a name that is not there (`torch` used without an import before the
scope was bound, a typo of an argument, a helper it forgot to write). Running the job to find out costs a
sandbox, a torch import and a traceback the model then ignores; an AST pass over the source finds it in
milliseconds, on the host, and says which line and which defined name was probably meant.

The pass only parses the text (nothing of it executes) and errs towards silence: a name counts as bound if
it is bound anywhere in the module (any scope), and code that can create names the parser cannot see
(`from x import *`, `globals()`, `exec`, ...) is not checked at all. So it never rejects a loss that would
have run; what it misses, the dry run in the sandbox still catches.
"""

from __future__ import annotations

import ast
import builtins
import difflib

from verifiers.names import bound_names, placeholder, read_before_assigned

#: bound in the loss module's namespace before the candidate's code runs (equal to
#: shipped/loss_server.SCOPE_NAMES; a test keeps the two in step)
SCOPE_NAMES = ("torch", "F", "math", "np")
#: names every module has without binding them
MODULE_NAMES = frozenset(
    {"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__", "__package__", "__class__"}
)
#: calls that can bind names the parser cannot see: their presence turns the check off
DYNAMIC = frozenset({"globals", "locals", "vars", "exec", "eval", "__import__"})
#: the check is skipped above this size (the sandbox still judges it); losses are a few hundred bytes
MAX_SOURCE = 200_000
#: names small models reach for that the bound modules spell differently
ALIASES = {"nn": "torch.nn", "functional": "F", "numpy": "np", "Tensor": "torch.Tensor"}
BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def _line(source_lines: list[str], lineno: int) -> str:
    code = source_lines[lineno - 1].strip() if 0 < lineno <= len(source_lines) else ""
    return code if len(code) <= 100 else code[:97] + "..."


def _suggest(name: str, bound: set[str]) -> str:
    """The nearest defined name (the candidate's own first, then the bound modules, then builtins)."""
    if name in ALIASES:
        return f" (use `{ALIASES[name]}`)"
    for pool, cutoff in ((sorted(bound), 0.7), (SCOPE_NAMES, 0.7), (sorted(BUILTINS), 0.8)):
        close = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
        if close:
            return f" (did you mean `{close[0]}`?)"
    scope = ", ".join(SCOPE_NAMES)
    return f" (only {scope} and Python's builtins are in scope without an import or a definition)"


def syntax_problem(source: str) -> str | None:
    """The harness's own wording for code that does not parse, so the host can say it without a job."""
    try:
        ast.parse(source)
    except SyntaxError as e:
        text = (e.text or "").strip()  # the line itself: "invalid syntax (line 12)" alone was copied back
        where = f"line {e.lineno}" + (f": `{text[:160]}`" if text else "")
        return f"the code does not parse: {e.msg} ({where})"
    except (ValueError, RecursionError, MemoryError):
        return None  # the sandbox's harness reports these in its own words
    return None


def undefined_names(source: str) -> str | None:
    """One or two lines naming the first undefined name (or a scaffold's `...` left unfilled), its line and
    the likely intended name; None when every name used is bound (or the check cannot tell)."""
    if len(source) > MAX_SOURCE:
        return None
    hole = placeholder(source, "a torch expression")
    if hole is not None:
        return hole
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return syntax_problem(source) if len(source) <= MAX_SOURCE else None
    bound, star = bound_names(tree)
    if star:
        return None
    used = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    if any(n.id in DYNAMIC for n in used):
        return None
    known = bound | BUILTINS | MODULE_NAMES | set(SCOPE_NAMES)
    missing = sorted((n for n in used if n.id not in known), key=lambda n: (n.lineno, n.col_offset))
    if not missing:
        return read_before_assigned(source)
    first = missing[0]
    lines = source.splitlines()
    text = f"line {first.lineno} (`{_line(lines, first.lineno)}`): `{first.id}` is not defined"
    text += _suggest(first.id, bound)
    others = list(dict.fromkeys(f"`{n.id}` (line {n.lineno})" for n in missing if n.id != first.id))
    if others:
        text += "\nAlso not defined: " + ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
    return text
