"""The layering is enforced, not described: import contracts, no module cycles, self-contained shipped code.

`lint-imports` checks the contracts in pyproject.toml (the kernel imports nothing else of assay; tasks ->
verifiers -> sandboxes -> kernel; the orchestrator never imports a verifier family or a task suite; families
and suites are independent; no cycles between sibling packages). The rest import-linter does not express,
so it is checked here with its own graph library: no cycle between any two modules, and no program shipped
into the sandbox importing assay.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "verifiers", "sandboxes", "tasks")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("file", "line", "contract"),
    [
        ("verifiers/sandboxed.py", "import tasks.reward.problems", "never upwards"),
        ("agent/kernel/types.py", "import agent.store.sqlite", "The kernel imports nothing else"),
        ("agent/search/loop.py", "import verifiers.code.run", "orchestrator never imports a verifier family"),
        ("verifiers/loss/problem.py", "import verifiers.reward.problem", "families never import each other"),
    ],
)
def test_a_deliberate_back_import_breaks_them(tmp_path: Path, file: str, line: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / file
    target.write_text(target.read_text() + f"\n{line}  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert any(contract.lower() in ln.lower() for ln in broken), result.stdout[-3000:]


def _module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_no_two_modules_import_each_other_even_indirectly() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    assert _module_cycles(graph) == []


def test_the_kernel_contract_names_every_orchestrator_package() -> None:
    """A new orchestrator package must be forbidden to the kernel too; this catches the forgotten entry."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [kernel] = [c for c in config["contracts"] if c.get("source_modules") == ["agent.kernel"]]
    children = {
        f"agent.{p.stem}"
        for p in (ROOT / "agent").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    } - {"agent.kernel"}
    assert children <= set(kernel["forbidden_modules"])


ASSAY = set(PACKAGES)


def _shipped_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("shipped/**/*.py"))


def test_shipped_programs_are_self_contained() -> None:
    """What runs in the sandbox is shipped as text and must not need (or reveal) assay's own packages."""
    files = _shipped_files()
    assert len(files) >= 8
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ASSAY]
    assert offenders == []


def test_the_cycle_finder_finds_an_indirect_cycle() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert _module_cycles(graph) == [["p.a", "p.b", "p.c"]]
