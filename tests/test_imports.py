"""The layering, read from the source with ``ast``: no code outside tests/ imports from tests/,
and the ``vae`` package has no import cycle, counting imports inside functions too (a
function-level import hides a cycle from Python's import machinery, not from a reader)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Everything that is not a test: the library, the benches, the shared harness, the app.
NOT_TESTS = ["vae", "bench", "pages", "app.py"]


def module_name(path: Path, root: Path) -> str:
    """``vae/core/fit.py`` -> ``vae.core.fit``; ``vae/core/__init__.py`` -> ``vae.core``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imported_names(path: Path, root: Path) -> Iterator[str]:
    """Every ``import a.b`` / ``from a.b import c`` in a file, anywhere in it (functions too),
    as absolute dotted names (``a.b``; ``a.b.c`` for ``from``, whether ``c`` is a module or
    a name in one); relative imports are
    resolved against the file's package. Imports under ``if TYPE_CHECKING:`` are skipped:
    they never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if _type_checking_only(node):
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            yield from (f"{mod}.{alias.name}" for alias in node.names)


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports. ``from p import x`` counts as an
    import of ``p.x`` when that is a module, else of ``p``."""
    root = package.parent
    modules = {module_name(p, root): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for imported in imported_names(path, root):
            # The longest prefix that is a module of the package (x may be a function).
            parts = imported.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) != name:
                edges.add(".".join(parts))
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted;
    a module importing itself is excluded by ``import_graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _python_files(names: list[str], root: Path) -> list[Path]:
    files = []
    for name in names:
        p = root / name
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


@pytest.mark.parametrize("path", _python_files(NOT_TESTS, ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_outside_tests_imports_from_tests(path):
    bad = [n for n in imported_names(path, ROOT) if n == "tests" or n.startswith("tests.")]
    assert bad == [], f"{path.relative_to(ROOT)} imports {sorted(set(bad))}"


def test_vae_has_no_import_cycle():
    graph = import_graph(ROOT / "vae")
    assert len(graph) >= 20 and graph["vae.train"]  # the scan did see the package
    assert cycles(graph) == []


def test_the_checker_sees_cycles_through_functions_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from pkg.b import f\n",
        "b.py": "def f():\n    from .sub import c\n",  # a function-level, relative import
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import *\nfrom typing import TYPE_CHECKING\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
        "e.py": "import pkg.d\n",
        "f.py": "import tests.browser\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set()  # TYPE_CHECKING only: d -> e -> d is no cycle
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert "tests.browser" in set(imported_names(pkg / "f.py", tmp_path))
