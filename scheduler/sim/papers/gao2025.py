"""gao2025: dry-film NCM811 and NCM811/LLZO against Li metal, in coin cells and a pouch cell.

The numbers the paper reports are in protocols/library/gao2025/reported.toml.
"""

from __future__ import annotations

from scheduler.sim.papers.core import Procedure, expectations
from scheduler.sim.papers.derive import gitt_at_mid_soc

PAPER = "gao2025"
GAO_LLZO, GAO_BARE = "gao2025-dfncm-llzo", "gao2025-dfncm"
GAO_DRY_15, GAO_WET_15 = "gao2025-dry-film-15mg", "gao2025-wet-film-15mg"
GAO_LLZO_54, GAO_POUCH = "gao2025-dfncm-llzo-54mg", "gao2025-pouch"


def procedures() -> list[Procedure]:
    procs = [
        Procedure(
            "rate-llzo",
            "rate capability, DFNCM/LLZO",
            "gao2025/rate-full-charge.yaml",
            GAO_LLZO,
            expectations(PAPER, "rate-llzo"),
            overrides={"cycles_per_rate": 1},
        ),
    ]
    for preset, name in ((GAO_LLZO, "DFNCM/LLZO"), (GAO_BARE, "DFNCM")):
        tag = "llzo" if preset == GAO_LLZO else "bare"
        procs += [
            Procedure(
                f"formation-{tag}",
                f"first cycle at 0.1C, {name}",
                "gao2025/formation.yaml",
                preset,
                expectations(PAPER, f"formation-{tag}"),
            ),
            Procedure(
                f"cycling-{tag}",
                f"100 cycles at 0.5C, {name}",
                "gao2025/cycling-0.5C.yaml",
                preset,
                expectations(PAPER, f"cycling-{tag}"),
                overrides={"log": "60 s"},
            ),
            Procedure(
                f"vt-eis-{tag}",
                f"variable-temperature EIS, {name}",
                "gao2025/vt-eis.yaml",
                preset,
                expectations(PAPER, f"vt-eis-{tag}"),
                slot=True,
            ),
            Procedure(
                f"gitt-{tag}",
                f"GITT at mid SOC, {name}",
                "gao2025/gitt.yaml",
                preset,
                expectations(PAPER, f"gitt-{tag}"),
                derive=gitt_at_mid_soc(),
            ),
        ]
    return procs + _cells()


def _cells() -> list[Procedure]:
    """The dry vs wet film at 1C, the 54 mg/cm² electrode and the pouch cell. The library
    files log coarsely here (`log`) but finely over the ends of each charge and discharge,
    which gives the same capacities with a fraction of the points."""
    return [
        Procedure(
            f"cycling-1C-{tag}",
            f"100 cycles at 1C, {name} at 15 mg/cm²",
            "gao2025/cycling-1C.yaml",
            preset,
            expectations(PAPER, f"cycling-1C-{tag}"),
            overrides={"log": "60 s"},
        )
        for tag, name, preset in (
            ("dry", "dry film (DFNCM)", GAO_DRY_15),
            ("wet", "wet film (PVDF slurry)", GAO_WET_15),
        )
    ] + [
        Procedure(
            "loading-54mg",
            "20 cycles at 0.1C, DFNCM/LLZO at 54 mg/cm²",
            "gao2025/loading.yaml",
            GAO_LLZO_54,
            expectations(PAPER, "loading-54mg"),
            overrides={"log": "10 min"},
        ),
        Procedure(
            "pouch",
            "50 cycles of the Li-metal pouch cell, DFNCM/LLZO at 32.8 mg/cm²",
            "gao2025/pouch-cycling.yaml",
            GAO_POUCH,
            expectations(PAPER, "pouch"),
            overrides={"log": "10 min"},
        ),
    ]
