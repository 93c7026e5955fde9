"""The answer parser: what it accepts, and that hostile input is rejected before anything is evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp

from verifiers.sympy.parse import AnswerParseError, parse_expression, parse_expression_list

x, y = sp.symbols("x y")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x**2*sin(x)", x**2 * sp.sin(x)),
        ("x^2*sin(x)", x**2 * sp.sin(x)),
        ("2x + 3(x+1)", 5 * x + 3),
        ("sin(x)cos(x)", sp.sin(x) * sp.cos(x)),
        ("1/2", sp.Rational(1, 2)),
        ("x**(1/3)", x ** sp.Rational(1, 3)),
        ("e^x + E + pi + I", sp.exp(x) + sp.E + sp.pi + sp.I),
        ("ln(x) + log(x, 2)", sp.log(x) + sp.log(x) / sp.log(2)),
        ("y(x) = exp(x)", sp.exp(x)),
        ("Eq(y, x + 1)", x + 1),
        ("1.5e3", sp.Float(1500)),
        ("−x · 2", -2 * x),
        ("\\frac{x^{2}}{2} + \\sin(x)", x**2 / 2 + sp.sin(x)),
        ("x^{2} + 1", x**2 + 1),
        ("\\sqrt{x} e^{x}", sp.sqrt(x) * sp.exp(x)),
        ("x(x+1)", x * (x + 1)),
        ("$x^2$", x**2),
    ],
)
def test_accepted_forms(text: str, expected: sp.Expr) -> None:
    assert sp.simplify(parse_expression(text) - expected) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "attribute"),
        ("().__class__.__bases__", "attribute"),
        ("(lambda: 1)()", "lambda"),
        ("f.__globals__(1)", "cannot be called"),
        ("lambda: 1", "lambda"),
        ("x[0]", "indexing"),
        ("exec('1')", "not a number"),
        ("open('/etc/passwd')", "not a number"),
        ("sin(x, y=1)", "positional"),
        ("sin(*x)", "positional"),
        ("x if x else 1", "conditional"),
        ("[t for t in x]", "comprehension"),
        ("x == 1", "comparison"),
        ("x and y", "and/or"),
        ("__x__", "not allowed"),
        ("_secret", "not allowed"),
        ("x % 2", "operator"),
        ("sin(x", "syntax error"),
        ("Integral(x, x)", "unknown function"),
        ("diff(x**2, x)", "unknown function"),
        ("\\int x \\, dx", "closed form"),
        ("\\frac{d}{dx} x^2", "closed form"),
        ("sin", "function"),
        ("x" * 3000, "too long"),
        ("", "empty"),
        ("(1, 2)", "list"),
        ("O(x**3)", "O(...)"),
        ("x+" * 300 + "x", "nested too deeply"),
        ("-" * 1500 + "x", "nested too deeply"),
        ("\\frac{" * 150 + "x" + "}{2}" * 150, "nested too deeply"),
    ],
)
def test_rejected_forms(text: str, message: str) -> None:
    with pytest.raises(AnswerParseError, match=None) as info:
        parse_expression(text)
    assert message in str(info.value)


def test_hostile_answers_are_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    attempts = [
        f"__import__('os').system('touch {marker}')",
        f"eval(\"__import__('os').system('touch {marker}')\")",
        f"exec(\"open('{marker}', 'w')\")",
        f"[__import__('os').system('touch {marker}')]",
        f"(lambda: __import__('os').system('touch {marker}'))()",
    ]
    for text in attempts:
        with pytest.raises(AnswerParseError):
            parse_expression(text)
        with pytest.raises(AnswerParseError):
            parse_expression_list(text)
    # LaTeX text is only ever a symbol name, never code
    parsed = parse_expression(f"\\text{{__import__('os').system('touch {marker}')}}")
    assert isinstance(parsed, sp.Expr)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1, -2", [1, -2]),
        ("[1, -2]", [1, -2]),
        ("{1, -2}", [1, -2]),
        ("\\{1, -2\\}", [1, -2]),
        ("x = 1, x = -2", [1, -2]),
        ("x = 1 or x = -2", [1, -2]),
        ("x = 1 \\text{ and } x = -2", [1, -2]),
        ("$1, -2$", [1, -2]),
        ("\\pm\\sqrt{2}", [sp.sqrt(2), -sp.sqrt(2)]),
        ("1 \\pm \\sqrt{3}", [1 + sp.sqrt(3), 1 - sp.sqrt(3)]),
        ("log(4, 2), \\frac{1}{2}", [2, sp.Rational(1, 2)]),
        ("none", []),
        ("\\emptyset", []),
    ],
)
def test_value_lists(text: str, expected: list[sp.Expr]) -> None:
    values = parse_expression_list(text)
    assert len(values) == len(expected)
    assert all(sp.simplify(a - b) == 0 for a, b in zip(values, expected, strict=True))


def test_symbols_are_mapped_to_the_problem_symbols() -> None:
    real_x = sp.Symbol("x", real=True)
    parsed = parse_expression("sqrt(x**2)", {"x": real_x})
    assert parsed == sp.Abs(real_x)
