"""The layers of DESIGN.md, checked from the imports of every module (read with ast, nothing imported).

protos/ at the bottom; datanode/, namenode/ and client/ side by side, none importing
another; bench/ on top. Within client/, no module-level import cycle (an import
under ``if TYPE_CHECKING:`` counts: it is a cycle the code was designed around).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("protos", "datanode", "namenode", "client", "bench")
# What each package may not import, at any depth of any function.
FORBIDDEN = {
    "protos": {"datanode", "namenode", "client", "bench"},
    "datanode": {"namenode", "client", "bench"},
    "namenode": {"datanode", "client", "bench"},
    "client": {"datanode", "namenode", "bench"},
}
# The one exception, by name and why: a DataNode's WebHDFS data endpoint reads and writes
# files for a caller through the client library (acting with the caller's credentials),
# as HDFS's DataNode runs a DFSClient for WebHDFS. Nothing else of datanode/ may.
ALLOWED = {("datanode.webhdfs", "client")}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement in ``module`` loads (``from pkg import mod`` names pkg.mod)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:   # relative: from .x import y
        package = module.split(".")
        if not MODULES[module].name == "__init__.py":
            package = package[:-1]
        package = package[:len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    names = [f"{base}.{alias.name}" for alias in node.names]
    return [name if name in MODULES else base for name in names]


def imports_of(module: str, module_level_only: bool) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.update(imported(module, child))
            visit(child)
    visit(tree)
    return found


def test_every_package_was_found():
    assert {name.split(".")[0] for name in MODULES} == set(PACKAGES)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package):
    wrong = sorted(f"{module} imports {target}"
                   for module in MODULES if module.split(".")[0] == package
                   for target in imports_of(module, module_level_only=False)
                   if target.split(".")[0] in FORBIDDEN[package]
                   and (module, target.split(".")[0]) not in ALLOWED)
    assert not wrong, "layer violations:\n" + "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = walk(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = walk(start)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_within_client():
    client = [m for m in MODULES if m.split(".")[0] == "client"]
    graph = {m: {t for t in imports_of(m, module_level_only=True) if t in client and t != m} for m in client}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in client/: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"b"}}) is None
