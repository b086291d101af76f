"""DESIGN.md section 2: drivers, storage, simulators and protocols import nothing from each
other; only scheduler may import them all. Checked on the syntax tree of every module, so
imports inside functions count too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drivers", "protocols", "scheduler", "storage", "simulators")
FORBIDDEN = {
    "drivers": {"protocols", "scheduler", "storage", "simulators"},
    "storage": {"drivers", "protocols", "scheduler", "simulators"},
    "protocols": {"drivers", "scheduler", "storage", "simulators"},
    "simulators": {"drivers", "protocols", "scheduler", "storage"},
    "scheduler": set(),
}


def _imported_tops(tree: ast.AST) -> set[str]:
    tops: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_it_may(package: str) -> None:
    broken = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        bad = _imported_tops(tree) & FORBIDDEN[package]
        if bad:
            broken.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not broken, "import rules broken:\n" + "\n".join(broken)


def test_every_top_level_package_is_importable() -> None:
    import importlib

    for package in PACKAGES:
        assert importlib.import_module(package).__name__ == package


def test_checker_catches_a_violation() -> None:
    tree = ast.parse("def f():\n    from drivers.potentiostat import Sample\n")
    assert _imported_tops(tree) & FORBIDDEN["simulators"] == {"drivers"}
