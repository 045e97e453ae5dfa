"""lockwatch's modules: no import circles, each importable first in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lockwatch"
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


def _imports(module: str) -> set[str]:
    """The lockwatch modules that ``module`` imports anywhere: at the top, in
    functions, under ``TYPE_CHECKING``."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module is None:  # from . import a, b
            found.update(alias.name for alias in node.names)
        else:
            found.add(node.module.split(".")[0])
    return found & set(MODULES)


def test_module_graph_has_no_circles() -> None:
    graph = {module: _imports(module) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circle = path[path.index(module):] + [module]
            pytest.fail("import circle: " + " -> ".join(circle))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, path + [module])
        done.add(module)

    for module in MODULES:
        visit(module, [])


def test_no_imports_outside_lockwatch() -> None:
    """lockwatch stays importable on its own: users may copy it into their services."""
    for module in MODULES + ["__init__"]:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("harness"), (module, node.module)
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (module, node.level)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("harness"), (module, alias.name)


def test_only_the_standard_library() -> None:
    """The top-level ``lockwatch`` package needs nothing but the standard library."""
    for module in MODULES + ["__init__"]:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in {"lockwatch", "__future__"}, (
                    module,
                    name,
                )


PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
from lockwatch.report import Party, Report
party = Party(name="Task-1", ident="task 0x1", mode="exclusive", acquire_site="x.py:1 in f")
text = Report(kind="wait", lock="l", duration_s=1.0, time=0.0, subject=party).render()
assert text.startswith("POTENTIAL DEADLOCK:"), text
"""


@pytest.mark.parametrize("module", MODULES)
def test_importable_first(module: str) -> None:
    """Importing any one module first works, and ``Report.render()`` works after it."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, f"lockwatch.{module}"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
