"""The import layering of the code: no circles, and no import from a layer above its own.

``harness/`` is a stack of layers (docs/layout.md draws it). A unit is a top-level module
(``harness/run.py``) or a package (``harness/rig/``); each sits in one layer of :data:`LAYERS` and
may import from its own layer and the ones below, never from above. Every import counts, those
inside functions too (a late import is still a dependency); only imports under
``if TYPE_CHECKING:`` are left out, since they never run. ``lockwatch`` imports nothing of the
project, and the bundled servers in ``targets/`` import only ``lockwatch`` (as a user's service
would). Files must not import each other in a loop either, inside a package or across.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The layers of ``harness``, lowest first. A new top-level module or package goes in one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("durations", "net", "protocols", "push"),
    ("processes", "target", "measure"),
    ("toxiproxy", "thresholds"),
    ("faults",),
    ("scenario",),
    ("schedule", "checker"),
    ("runfolder",),
    ("rig", "loadgen", "reports"),
    ("sweep", "webui"),
    ("pages",),
    ("run",),
    ("headless", "ui"),
    ("__main__", "bench"),
)

#: Outside ``harness``: what each may import of the project's own packages.
OUTSIDE: Mapping[str, frozenset[str]] = {
    "lockwatch": frozenset({"lockwatch"}),
    "targets": frozenset({"targets", "lockwatch"}),
}

OWN_PACKAGES = ("harness", "lockwatch", "targets", "locustfile")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    files = [ROOT / "locustfile.py"]
    for package in ("harness", "lockwatch", "targets"):
        files.extend(sorted((ROOT / package).rglob("*.py")))
    return files


def _type_checking_only(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return hidden


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a.b import c`` is ``a.b.c`` if c is one)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    hidden = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known
                     else node.module for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OWN_PACKAGES:
                while name not in known and "." in name:
                    name = name.rpartition(".")[0]
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = source_files()
    known = {module_name(path) for path in files}
    return {module_name(path): imports_of(path, known) - {module_name(path)} for path in files}


def unit_of(module: str) -> str:
    """The unit of a module: ``harness.rig.rig`` is in ``rig``, ``lockwatch.x`` in ``lockwatch``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "harness" and len(parts) > 1 else parts[0]


def layer_index(layers: Iterable[Iterable[str]]) -> dict[str, int]:
    return {unit: level for level, units in enumerate(layers) for unit in units}


def upward_imports(graph: Mapping[str, set[str]],
                   layers: Iterable[Iterable[str]]) -> list[str]:
    """Each import in ``graph`` of a ``harness`` unit from a layer above the importer's own."""
    level = layer_index(layers)
    found = []
    for module, imported in sorted(graph.items()):
        if not module.startswith("harness."):
            continue
        for target in sorted(imported):
            if not target.startswith("harness."):
                continue
            source_unit, target_unit = unit_of(module), unit_of(target)
            if level[target_unit] > level[source_unit]:
                found.append(f"{module} (layer of {source_unit}) imports {target} "
                             f"(layer of {target_unit}, higher)")
    return found


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def unit_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if module.startswith("harness."):
            units.setdefault(unit_of(module), set()).update(
                unit_of(target) for target in imported
                if target.startswith("harness.") and unit_of(target) != unit_of(module))
    return units


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_harness_unit_has_a_layer(graph: dict[str, set[str]]) -> None:
    units = {unit_of(module) for module in graph if module.startswith("harness.")}
    placed = set(layer_index(LAYERS))
    assert units - placed == set(), "put each new unit of harness/ in a layer of LAYERS"
    assert placed - units == set(), "LAYERS names a unit that no longer exists"


def test_no_relative_imports() -> None:
    """The graph reads absolute imports only; ruff bans relative ones, and so does this."""
    relative = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in source_files()
                for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert relative == []


def test_no_import_from_a_layer_above(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph, LAYERS) == []


def test_no_file_imports_itself_in_a_loop(graph: dict[str, set[str]]) -> None:
    assert circles(graph) == []


def test_no_unit_imports_itself_in_a_loop(graph: dict[str, set[str]]) -> None:
    assert circles(unit_graph(graph)) == []


@pytest.mark.parametrize("package", sorted(OUTSIDE))
def test_packages_outside_harness_import_only_what_they_may(graph: dict[str, set[str]],
                                                            package: str) -> None:
    allowed = OUTSIDE[package]
    wrong = sorted(f"{module} imports {target}" for module, imported in graph.items()
                   if module.split(".")[0] == package
                   for target in imported if target.split(".")[0] not in allowed)
    assert wrong == []


def test_the_checks_catch_an_upward_import_and_a_circle() -> None:
    """The checkers themselves: a made-up graph with one import each way and a loop."""
    layers = (("low",), ("high",))
    made_up = {"harness.low.a": {"harness.high.b"}, "harness.high.b": {"harness.low.a"},
               "harness.high.c": {"harness.low.a"}}
    assert upward_imports(made_up, layers) == [
        "harness.low.a (layer of low) imports harness.high.b (layer of high, higher)"]
    assert circles(made_up) == [["harness.high.b", "harness.low.a"]]
    assert circles(unit_graph(made_up)) == [["high", "low"]]


def test_imports_are_read_inside_functions_but_not_under_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from harness.run import ChaosRun\n"
                      "def late():\n    from harness.scenario import Scenario\n"
                      "from harness.rig import rig\n")
    known = {"harness.run", "harness.scenario", "harness.rig", "harness.rig.rig"}
    assert imports_of(source, known) == {"harness.scenario", "harness.rig.rig"}
