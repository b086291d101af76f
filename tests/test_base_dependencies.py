"""What the analyses import at run time comes with the base install (`python3 run.py demo`).

A fresh base install has the base dependencies of pyproject.toml and what they require, and
nothing of the test extra. The EIS analysis runs here in a subprocess whose imports are held
to exactly that: any module of a distribution outside the base dependencies' closure fails to
import, as it would there. (impedance.py imports pandas without declaring it; so pandas must
be a base dependency of ours.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
GUARD = r"""
import importlib.abc, importlib.metadata, sys
allowed = set(sys.argv[1].split(","))
owners = importlib.metadata.packages_distributions()
ours = {"drivers", "protocols", "scheduler", "storage", "simulators"}

def norm(name):
    return importlib.metadata.distribution(name).metadata["Name"].lower().replace("_", "-")

class BaseOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if "." in fullname or top in sys.stdlib_module_names or top in ours:
            return None
        dists = owners.get(top)
        if dists and not any(norm(d) in allowed for d in dists):
            raise ModuleNotFoundError(f"No module named {top!r} (not in the base install)")
        return None

sys.meta_path.insert(0, BaseOnly())
import numpy as np
from protocols.analysis import fit_spectrum, kramers_kronig
from simulators.cell import Cell, load_preset

cell = Cell(load_preset("gao2025-dfncm-llzo"), soc=0.5, seed=1)
f = np.logspace(5, -1, 61)
z = cell.measured_impedance(f)
fit = fit_spectrum(f, z.real, z.imag)
kk = kramers_kronig(f, z)
print(fit.Rct_ohm, cell.truth()["Rct_ohm"], kk.max_residual)
"""


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def base_closure() -> set[str]:
    """The distributions a base install of this checkout has: its base dependencies and
    everything they require (without extras), as installed here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = [Requirement(text) for text in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = _name(requirement.name)
        if name in seen:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here, so nothing can import it either
        todo += [Requirement(text) for text in requires]
    return seen


def guarded(allowed: set[str]) -> subprocess.CompletedProcess[str]:
    """The EIS analysis in a subprocess that may import only the `allowed` distributions."""
    return subprocess.run(
        [sys.executable, "-c", GUARD, ",".join(sorted(allowed))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_eis_analysis_runs_on_the_base_dependencies_alone() -> None:
    allowed = base_closure()
    assert "pandas" in allowed and "pyarrow" in allowed
    result = guarded(allowed)
    assert result.returncode == 0, result.stderr[-2000:]
    fitted, true_rct, kk_residual = (float(x) for x in result.stdout.split())
    assert abs(fitted - true_rct) < 0.10 * true_rct
    assert kk_residual < 0.02


def test_the_guard_refuses_what_the_base_install_lacks() -> None:
    """The same guard without pandas among the allowed: the analysis cannot import."""
    allowed = base_closure() - {"pandas"}
    result = guarded(allowed)
    assert result.returncode != 0
    assert "No module named 'pandas' (not in the base install)" in result.stderr
