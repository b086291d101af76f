"""The house rules that keep the five packages readable, checked on the source itself:
small modules and functions, no import circles, and no blocking database call on an event
loop (async code reaches the store only through `storage.AsyncStore`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drivers", "protocols", "scheduler", "storage", "simulators")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {path: ast.parse(path.read_text(encoding="utf-8")) for path in _sources()}
MODULES = {_module_name(path): path for path in SOURCES}


def test_no_module_over_600_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in SOURCES
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_80_lines() -> None:
    long = []
    for path, tree in SOURCES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not in functions or TYPE_CHECKING)."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                pending.extend(handler.body)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")[: len(module.split(".")) - node.level + 1]
            if not MODULES.get(module, Path()).name == "__init__.py":
                package = module.split(".")[: -node.level]
            base = ".".join([*package, *([base] if base else [])])
        names = [f"{base}.{alias.name}" for alias in node.names] + [base]
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        # A submodule always loads its parent packages first; that is not a circle.
        if name and name != module and not module.startswith(name + "."):
            yield name


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle() -> None:
    graph = {
        module: {t for node in _module_imports(SOURCES[path]) for t in _targets(module, node)}
        for module, path in MODULES.items()
    }
    assert not _cycles(graph)


def test_the_circle_check_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# -- no blocking database call on an event loop ----------------------------------------------
def _store_references(function: ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """Uses of a synchronous store in the body of a coroutine (nested plain functions are
    run in a worker thread, so they may use one)."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Name) and node.id == "store":
            yield node
        elif isinstance(node, ast.Attribute) and node.attr == "store":
            yield node
        elif isinstance(node, ast.Attribute) and node.attr == "sync" and _names_a_db(node.value):
            yield node  # the facade's synchronous store, used on the loop
        pending.extend(ast.iter_child_nodes(node))


def _names_a_db(node: ast.AST) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in ("db", "store") or name.endswith("_db")


FACADE = ROOT / "storage" / "async_store.py"


def _async_store_uses() -> list[str]:
    found = []
    for path, tree in SOURCES.items():
        if path == FACADE:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.AsyncFunctionDef):
                for use in _store_references(node):
                    found.append(f"{path.relative_to(ROOT)}:{getattr(use, 'lineno', '?')}")
    return found


def test_async_code_reaches_the_store_only_through_the_async_facade() -> None:
    assert not _async_store_uses()


def test_the_store_check_sees_a_blocking_call() -> None:
    tree = ast.parse("async def f(self):\n    self.store.add_event('x')\n")
    function = tree.body[0]
    assert isinstance(function, ast.AsyncFunctionDef)
    assert len(list(_store_references(function))) == 1


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_has_sources(package: str) -> None:
    assert any(m.split(".")[0] == package for m in MODULES)
