"""The reward candidate from a completion: the code block, cut down to the definitions the trainer uses.

Why cut it down: models (small local ones especially) answer with the whole simulator copied back, their
reward, and then a demo script that trains and evaluates at module level. The trainer only calls
`compute_reward`, so the candidate keeps the module's imports, constants, functions and classes and drops
every other top-level statement (loops, calls, prints, `if __name__ == ...` blocks), which would otherwise run
on import and fail for reasons that have nothing to do with the reward. What is dropped is said in a comment
at the top of the candidate, so the stored hypothesis shows exactly what was verified. An answer cut off by
the token limit keeps its longest prefix of whole statements when that still defines compute_reward. So does
a complete answer whose module-level script after the definitions does not parse (a small model writes `for _
in range(6):` with only a comment as its body, after a correct reward): the script would be dropped anyway,
and a syntax error in it says nothing about the reward. A syntax error inside a definition is still the
candidate's error. Last, one environment's control flow (`if done:`, `a and b` on arrays) is written
element-wise (tasks/reward/elementwise.py).

Nothing here runs the code: it is parsed with `ast` only.
"""

from __future__ import annotations

import ast
import re
import sys

from agent.kernel.errors import ParseError
from tasks.parsing import code_block
from tasks.reward import elementwise

LIBRARIES = frozenset({"np", "numpy", "math"})
#: pure builtins a constant may be built with (`RANDOMISE = dict(force=(0.8, 1.2))` reaches its validator)
PURE_BUILTINS = frozenset({"dict", "list", "tuple", "float", "int", "abs", "min", "max", "round", "range"})
_DEFINES_REWARD = re.compile(r"^def\s+compute_reward\b", re.MULTILINE)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python|py)?[^\n]*\n", re.IGNORECASE)


def reward_source(text: str) -> str:
    """The candidate's source: the last python block (or an unclosed one at the end), definitions only."""
    try:
        source = code_block(text)
        truncated = False
    except ParseError:
        source = _unclosed_block(text)
        truncated = True
    if not truncated and not _DEFINES_REWARD.search(source) and text.count("```") % 2:
        # a closed block without the reward, then one the limit cut off: a 1.5B model closed its copy of
        # the environment and began again (stop 30); the cut-off block is the answer, and its feedback
        # says what it spent its length on
        source, truncated = _unclosed_block(text), True
    tree, lines, last_complete, salvaged = _parse(source, truncated)
    skip: set[int] = set()
    if not last_complete and tree.body:
        cut = tree.body.pop()  # the statement the cut went through may be incomplete even when it parses
        skip.update(range(cut.lineno, len(lines) + 1))
    if not any(isinstance(n, ast.FunctionDef) and n.name == "compute_reward" for n in tree.body):
        spent = _spent_on(tree) if truncated else ""
        raise ParseError(
            f"the code block must define `def compute_reward(obs, action, next_obs, done):`{spent}"
        )
    dropped = [n for n in tree.body if not _is_definition(n)]
    unused = _unused([n for n in tree.body if _is_definition(n)])
    if not dropped and not unused and not truncated and salvaged is None:
        return elementwise.rewrite(source)
    for node in dropped + unused:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        skip.update(range(first, (node.end_lineno or node.lineno) + 1))
    notes = []
    if unused:
        notes.append(f"# assay: dropped {_names(unused)}: compute_reward never uses them;")
    if dropped:
        where = ", ".join(str(n.lineno) for n in dropped[:8]) + (" ..." if len(dropped) > 8 else "")
        notes.append(f"# assay: dropped {len(dropped)} top-level statement(s) of the answer (lines {where});")
        notes.append("# the trainer calls compute_reward itself, so only definitions are kept.")
    if truncated:
        notes.append("# assay: the answer was cut off; its complete statements are kept.")
    if salvaged is not None:
        notes.append(salvaged)
    kept = [line for number, line in enumerate(lines, 1) if number not in skip]
    return elementwise.rewrite("\n".join(notes + kept).rstrip() + "\n")


def _bound(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [(a.asname or a.name).split(".")[0] for a in node.names]


def _unused(body: list[ast.stmt]) -> list[ast.stmt]:
    """The functions, classes and (other than numpy's and the standard library's) imports that neither
    compute_reward nor a constant reaches, directly or through other definitions.

    Why: a small model writes its own training script as a function (`def train_trainer(): ... env.reset()`)
    and imports what it would need (`from gym import spaces`); the trainer never calls either, Python would
    fail only on calling the function, yet the pre-check's undefined-name pass and the sandbox's import stop
    the whole candidate for them (the issue-12 bench, pendulum, seed 2: every scaffold answer). Dropping
    dead code changes nothing that runs; what is dropped is said in the candidate's first line."""
    defs: dict[str, list[ast.stmt]] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs.setdefault(node.name, []).append(node)
    named = {id(n) for nodes in defs.values() for n in nodes}
    roots = [n for n in body if not isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in named]
    stack = [*defs.get("compute_reward", []), *roots]
    used: set[str] = {"compute_reward"}
    while stack:
        for name in {x.id for x in ast.walk(stack.pop()) if isinstance(x, ast.Name)} - used:
            used.add(name)
            stack.extend(defs.get(name, []))
    unused_defs = [n for name, nodes in defs.items() if name not in used for n in nodes]
    imports = [n for n in body if isinstance(n, ast.Import | ast.ImportFrom)]
    unused_imports = [
        n for n in imports if not _always_there(n) and "*" not in _bound(n) and not set(_bound(n)) & used
    ]
    return sorted(unused_defs + unused_imports, key=lambda n: n.lineno)


def _always_there(node: ast.Import | ast.ImportFrom) -> bool:
    """numpy and the standard library: an unused import of them cannot fail, so it stays as written."""
    return all(m.split(".")[0] in sys.stdlib_module_names | {"numpy"} for m in _modules(node))


def _modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or "."]


def _names(nodes: list[ast.stmt]) -> str:
    said = [
        f"`{n.name}`" if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        else "the import of " + ", ".join(f"`{m}`" for m in _modules(n))  # type: ignore[arg-type]
        for n in nodes[:6]
    ]  # fmt: skip
    return ", ".join(said) + (" ..." if len(nodes) > 6 else "")


def _spent_on(tree: ast.Module) -> str:
    """What a cut-off answer spent its length on before compute_reward was complete, when that was other
    definitions: a small model copies the environment's code back (seed 2 of the issue-12 bench: `reset`,
    `observe`, `step`, `goal` and 13 constants, twice in a row, each time cut off inside compute_reward), and
    "answer with a shorter program" did not tell it what to leave out."""
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    constants = sum(isinstance(n, ast.Assign | ast.AnnAssign) for n in tree.body)
    if len(functions) + constants < 3:
        return ""
    names = ", ".join(f"`{name}`" for name in functions[:6]) + (" ..." if len(functions) > 6 else "")
    parts = [p for p in (names, f"{constants} constants" if constants else "") if p]
    return (
        f"; before it, the answer spent its length on {' and '.join(parts)}: do not copy the environment's "
        "code (the trainer runs it), write compute_reward first"
    )


def _is_definition(node: ast.stmt) -> bool:
    """Imports, functions, classes, docstrings and constants: what defining a reward module needs.

    An assignment is a constant when it binds names and every call in its value is a numpy or math function
    or a pure builtin (`W = np.array([1.0, 2.0])`); `trainer = Trainer(...)` belongs to a demo script and
    would fail on import, and so does an assignment into something (the 1.5B model's own "tuning" line
    `TUNABLE["W_HEIGHT"], _ = np.random.uniform(*TUNABLE["W_HEIGHT"])`, acrobot scaffold, stop 31).
    """
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not all(_binds_names(t) for t in targets):
            return False
        return all(_library_call(call) for call in ast.walk(node.value) if isinstance(call, ast.Call))
    return False


def _binds_names(target: ast.expr) -> bool:
    """`W`, `A, B` or `[A, B]`: a target that only binds names (not `D["k"]` or `obj.attr`)."""
    if isinstance(target, ast.Tuple | ast.List):
        return all(_binds_names(t) for t in target.elts)
    return isinstance(target, ast.Name)


def _library_call(call: ast.Call) -> bool:
    if isinstance(call.func, ast.Name) and call.func.id in PURE_BUILTINS:
        return True
    func = call.func
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id in LIBRARIES and func is not call.func


def _unclosed_block(text: str) -> str:
    """The text after the last opening fence when the completion ended before closing it."""
    opens = list(_OPEN_FENCE.finditer(text))
    if not opens or text.count("```") % 2 == 0:
        raise ParseError("no code block found: put your answer in a fenced block (```python ... ```)")
    body = text[opens[-1].end() :]
    if not body.strip():
        raise ParseError("the code block is empty")
    return body


def _parse(source: str, truncated: bool) -> tuple[ast.Module, list[str], bool, str | None]:
    """The module tree (for a cut-off answer, of the longest prefix of lines that parses), its lines,
    whether its last statement is known to be complete, and the note for a trailing script that was dropped
    because it does not parse (None when nothing was).

    A cut-off answer's last statement is complete only when the cut fell after it: the first line dropped
    from the prefix starts a new top-level statement (no indentation). When the whole cut-off text parses,
    nothing says where the cut fell, so the last statement counts as incomplete.
    """
    lines = source.splitlines()
    try:
        return ast.parse(source), lines, not truncated, None
    except SyntaxError as e:
        error = e
    prefix = _longest_parsing_prefix(lines)
    if truncated and prefix is not None:
        tree, end = prefix
        rest = next((line for line in lines[end:] if line.strip()), "")
        return tree, lines[:end], not rest[:1].isspace(), None
    if truncated:
        raise ParseError(
            f"the answer was cut off and does not parse ({error.msg}): answer with compute_reward only, "
            "without repeating the environment"
        )
    if (
        prefix is not None
        and _starts_a_script(_first_code_line(lines[prefix[1] :]))
        and any(isinstance(n, ast.FunctionDef) and n.name == "compute_reward" for n in prefix[0].body)
    ):  # only a script after the reward: a compute_reward after the broken line keeps the SyntaxError
        tree, end = prefix
        note = (
            f"# assay: dropped lines {end + 1}-{len(lines)} of the answer, a module-level script that does "
            f"not parse ({error.msg}, line {error.lineno});"
        )
        return tree, lines[:end], True, note
    where = f"line {error.lineno}" + (f": `{error.text.strip()}`" if (error.text or "").strip() else "")
    raise ParseError(f"SyntaxError in the code block: {error.msg} ({where})") from None


def _longest_parsing_prefix(lines: list[str]) -> tuple[ast.Module, int] | None:
    """The tree of the longest prefix of lines that parses, and its length."""
    for end in range(len(lines) - 1, 0, -1):
        try:
            return ast.parse("\n".join(lines[:end])), end
        except SyntaxError:
            continue
    return None


def _first_code_line(lines: list[str]) -> str:
    return next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")


def _starts_a_script(line: str) -> bool:
    """Whether a line starts a top-level statement that is not a definition (a loop, a call, an `if`): the
    part of an answer the trainer never runs. A broken `def` or `class` is not, nor is an indented line."""
    if not line or line[:1].isspace():
        return False
    first = line.split(maxsplit=1)[0].rstrip(":(")
    return first not in ("def", "class", "async", "import", "from") and not line.startswith("@")
