"""The packages of ``examples/`` (and the profiler decoder) stand in layers that only point down.

The import graph is read from the source with ``ast``: every import counts, the lazy ones
inside functions too (they are dependencies all the same), relative imports resolved, and
``importlib.import_module("...")`` with a literal name. A package may import only packages
below it in ``LAYERS`` (CONTRIBUTING.md explains the order); that also rules out cycles.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

# From the ground up. A new package must be placed here (test_every_package_has_a_layer).
LAYERS = ("common", "models", "quantization", "integrity", "runtime.profiler", "export", "runner",
          "evaluation", "generation", "benchmark", "tune", "results", "backend")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """``(module imported, line)`` for every import in ``source``, wherever it stands."""
    found = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found.append((name, node.lineno))
            if not node.module:  # from . import x: x may be a module
                found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, node.lineno))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "examples" and len(parts) > 1:
        return parts[1]
    if parts[:2] == ["runtime", "profiler"]:
        return "runtime.profiler"
    return None


def _sources(repo_root: Path):
    for folder in sorted((repo_root / "examples").iterdir()):
        if (folder / "__init__.py").exists():
            yield from sorted(folder.rglob("*.py"))
    yield from sorted((repo_root / "runtime" / "profiler").rglob("*.py"))


def import_graph(repo_root: Path) -> dict[tuple[str, str], list[str]]:
    """(importing layer, imported layer) -> the places (``file:line``) that make the edge."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in _sources(repo_root):
        module = _module_name(path, repo_root)
        source = layer_of(module)
        for name, line in imported_modules(path.read_text(), module, path.name == "__init__.py"):
            target = layer_of(name)
            if source and target and target != source:
                edges[source, target].append(f"{path.relative_to(repo_root)}:{line}")
    return edges


def cycles(edges) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_edges(edges) -> dict[tuple[str, str], list[str]]:
    return {(a, b): where for (a, b), where in edges.items()
            if a in LAYERS and b in LAYERS and LAYERS.index(b) > LAYERS.index(a)}


def test_every_package_has_a_layer(repo_root):
    packages = {p.name for p in (repo_root / "examples").iterdir() if (p / "__init__.py").exists()}
    assert packages | {"runtime.profiler"} == set(LAYERS)


def test_imports_only_point_down(repo_root):
    edges = import_graph(repo_root)
    assert len(edges) > 20  # the scan sees the graph
    assert upward_edges(edges) == {}


def test_no_import_cycle_between_packages(repo_root):
    assert cycles(import_graph(repo_root)) == []


def test_the_scan_counts_lazy_relative_and_dynamic_imports():
    source = ("import examples.models.zoo\n"
              "def f():\n    from ..tune import tuner\n    from . import sibling\n"
              "    importlib.import_module('examples.results.schema')\n")
    names = [name for name, _ in imported_modules(source, "examples.benchmark.harness")]
    assert names == ["examples.models.zoo", "examples.tune", "examples.benchmark", "examples.benchmark.sibling",
                     "examples.results.schema"]
    edges = {("benchmark", "tune"): ["x"], ("tune", "benchmark"): ["y"], ("tune", "common"): ["z"]}
    assert upward_edges(edges) == {("benchmark", "tune"): ["x"]}
    assert cycles(edges) == [["benchmark", "tune"]]


def test_buck2_deps_point_down_too(repo_root):
    """The Buck2 targets of each package depend only on packages below it (as its imports do)."""
    import re

    upward = {}
    folders = [repo_root / "examples" / p for p in LAYERS if p != "runtime.profiler"] + [repo_root / "runtime/profiler"]
    for folder in folders:
        layer = layer_of(".".join(folder.relative_to(repo_root).parts))
        text = (folder / "targets.bzl").read_text()
        for package in re.findall(r'"//(examples/\w+|runtime/profiler):', text):
            target = layer_of(package.replace("/", "."))
            if target != layer and LAYERS.index(target) > LAYERS.index(layer):
                upward.setdefault(layer, []).append(target)
    assert upward == {}
