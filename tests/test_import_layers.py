"""Imports run one way (docs/architecture.md): the network is the network alone, loaded without
the tokenizer, and no module of generation, evaluation, the checkpoint, the model or the data
imports one that imports it back, not even inside a function or for a type only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from helpers.training import ROOT, WAIT_S, child_environment

PACKAGE = ROOT / "charlm"

def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The charlm modules `path` imports anywhere in it: at the top, inside functions, and under
    TYPE_CHECKING."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from charlm.data import types` imports a module; `from charlm import
            # __version__`, the package's own __init__.
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                imported.add(submodule if submodule in modules else node.module)
    return imported & modules


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imported_modules(path, modules) - {name} for name, path in paths.items()}


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The sets of modules that import one another, round a circle (the strongly connected
    components of more than one module)."""
    reaches = {name: set() for name in graph}
    for start in graph:
        pending = list(graph[start])
        while pending:
            name = pending.pop()
            if name not in reaches[start]:
                reaches[start].add(name)
                pending.extend(graph[name])
    found: list[set[str]] = []
    for name in sorted(graph):
        circle = {name} | {other for other in reaches[name] if name in reaches[other]}
        if name in reaches[name] and circle not in found:
            found.append(circle)
    return found


def in_layer(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def test_the_network_imports_nothing_of_the_data_but_its_types() -> None:
    graph = import_graph()
    network = [name for name in graph if in_layer(name, "charlm.model")]
    assert "charlm.model.network" in network
    outside = {(name, other) for name in network for other in graph[name]
               if not in_layer(other, "charlm.model") and other != "charlm.data.types"}
    assert outside == set()


def test_no_module_of_charlm_is_in_an_import_circle() -> None:
    """Imports inside functions and type-only ones count: a type-only circle means a type
    lives in the wrong module."""
    assert circles(import_graph()) == []


def test_the_network_loads_without_the_tokenizer() -> None:
    code = ("import sys, charlm.model.network, charlm.model.step; "
            "print('nltk' in sys.modules, 'charlm.data.tokenizer' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=child_environment(), timeout=WAIT_S, check=True)
    assert result.stdout.split() == ["False", "False"]
