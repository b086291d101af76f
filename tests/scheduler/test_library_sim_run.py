"""Every procedure of the library runs with `cellbench sim run FILE --preset P` on a preset
that fits it, with the chamber and press it needs, and every analysis it names gives a
result. Long procedures run shortened with `--param` (two cycles, three GITT pulses, three
temperatures, ten-minute holds), as a user trying a file would.

The preset is the one the paper runs use for that file (`scheduler.sim.papers`), else the
paper's cell for that kind of measurement.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

import protocols
from scheduler.cli import main
from scheduler.sim.papers.run import PAPERS, procedures

SHORT = {  # parameter -> the shortened value, wherever a file has that parameter
    "cycles": "2",
    "n_pulses": "3",
    "relax": "10 min",
    "cycles_per_rate": "1",
    "rates": "[0.2C, 0.3C]",
    "temperatures": "[30 degC, 45 degC, 60 degC]",
    "soak": "30 min",
    "hold": "10 min",
    "max_hold": "30 min",
    "half_cycle": "10 min",
    "steps_V": "[10 mV, 20 mV]",
    "scan_rate": "0.5 mV/s",
}
CELLS = {  # files no paper run uses, and the cell each is measured on
    "kim2025/dc-polarisation.yaml": "kim2025-lpscl-pellet",
    "kim2025/eis-after-cycling.yaml": "kim2025-model4-75wt",
    "ye2025/conductivity-vs-temperature.yaml": "ye2025-grse-ss-li",
    "ye2025/window-lsv.yaml": "ye2025-grse-ss-li",
}
PAPER_CELL = {
    "demo": "gao2025-dfncm-llzo",
    "gao2025": "gao2025-dfncm-llzo",
    "kim2025": "kim2025-model4-85wt",
    "ye2025": "ye2025-ncm-pvdf",
}
FILES = sorted(protocols.LIBRARY.glob("*/*.yaml"))


def preset_for(relative: str) -> str:
    used = {p.library: p.preset for paper in PAPERS for p in reversed(procedures(paper))}
    return used.get(relative) or CELLS.get(relative) or PAPER_CELL[relative.split("/")[0]]


def short_params(path: Any) -> list[str]:
    parameters = yaml.safe_load(path.read_text(encoding="utf-8")).get("parameters") or {}
    out: list[str] = []
    for name, value in SHORT.items():
        if name in parameters:
            out += ["--param", f"{name}={value}"]
    return out


def test_the_walk_covers_the_whole_library() -> None:
    assert len(FILES) >= 30
    assert {f.parent.name for f in FILES} == {*PAPERS, "demo"}


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_library_procedure_runs_with_sim_run(path, tmp_path, capsys) -> None:
    relative = f"{path.parent.name}/{path.name}"
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["sim", "run", str(path), "--preset", preset_for(relative), "--db", db]
    main([*args, *short_params(path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "completed", data["message"]
    assert data["simulated_hours"] > 0.1 and data["steps"] >= 2
    assert data["analyses"]  # what the file names, or the cycle summary by default
    skipped = {name: a["skipped"] for name, a in data["analyses"].items() if a["skipped"]}
    assert not skipped
