"""No import cycle inside evframe: modules import each other one way only.

Only imports that run at import time count: imports inside functions and
under ``if TYPE_CHECKING:`` are deliberate ways around a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import evframe

PACKAGE = Path(evframe.__file__).resolve().parent


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported (not in functions, not for type checkers)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                walk(node.body)
                for handler in getattr(node, "handlers", []):
                    walk(handler.body)
                walk(getattr(node, "orelse", []))
                walk(getattr(node, "finalbody", []))
            elif isinstance(node, ast.ClassDef):
                walk(node.body)

    walk(tree.body)
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> set[str]:
    """The modules of the package this import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    # `from pkg import name` may load the submodule pkg.name; count it when it is one.
    return {origin} | {f"{origin}.{alias.name}" for alias in node.names}


def import_graph(root: Path) -> nx.DiGraph:
    """Edges module -> module it imports at import time, within the package at ``root``."""
    package = root.name
    sources = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(sources)
    for module, path in sources.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        for node in _top_level_imports(tree):
            targets = _targets(node, module, is_package)
            for target in targets:
                # A module's own packages are always imported before it (Python runs
                # their __init__ first), so `from pkg import submodule` inside pkg
                # needs nothing more of pkg: no edge.  A name defined in pkg's
                # __init__ does need it.
                if module.startswith(target + ".") and all(
                    t in sources for t in targets - {target}
                ):
                    continue
                if target in sources and target != module and target.startswith(package):
                    graph.add_edge(module, target)
    return graph


def _cycle(graph: nx.DiGraph) -> list[str] | None:
    try:
        return [edge[0] for edge in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
        return None


def test_evframe_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert "evframe.processor" in graph and graph.has_edge("evframe.processor", "evframe.handler")
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "files",
    [
        {"a.py": "import fake.b\n", "b.py": "from fake import a\n"},
        {"a.py": "from .b import x\n", "b.py": "from . import a\n"},
        {"__init__.py": "from fake.a import x\n", "a.py": "from fake import x\n"},
        {"sub/__init__.py": "", "sub/c.py": "from .. import a\n", "a.py": "from .sub import c\n"},
    ],
    ids=["absolute", "relative", "package-init", "parent-relative"],
)
def test_a_made_up_cycle_is_found(tmp_path: Path, files: dict[str, str]) -> None:
    root = _write(tmp_path / "fake", files)
    assert _cycle(import_graph(root)) is not None


def test_deferred_imports_do_not_count(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "fake",
        {
            "a.py": "import fake.b\n",
            "b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from fake import a\n"
                "def f():\n    from fake import a\n"
            ),
        },
    )
    graph = import_graph(root)
    assert graph.has_edge("fake.a", "fake.b")
    assert _cycle(graph) is None
