"""kim2025: all-solid-state NCM811@Li6PS5Cl composite cathodes under stack pressure.

The numbers the paper reports are in protocols/library/kim2025/reported.toml.
"""

from __future__ import annotations

from scheduler.sim.papers.core import Procedure, expectations

PAPER = "kim2025"
MODEL4_85, MODEL4_75 = "kim2025-model4-85wt", "kim2025-model4-75wt"
MODEL2_85, LIQUID = "kim2025-model2-85wt", "kim2025-liquid-reference"
# The paper's energy density counts a practical stack: the cathode layer plus 30 µm of
# separator and 30 µm of Li ("presumed", Fig. 5), not the 0.78 mm SE pellet of the test cell.
PRACTICAL_STACK = {"stack_separator_um": 30.0, "stack_anode_um": 30.0}


def procedures() -> list[Procedure]:
    return [
        Procedure(
            "formation",
            "formation at 0.05C, 60 °C, 15 MPa (Model 4, 85 wt%)",
            "kim2025/formation.yaml",
            MODEL4_85,
            expectations(PAPER, "formation"),
            slot=True,
            press=True,
            cell_extra=PRACTICAL_STACK,
        ),
        Procedure(
            "cycling-75wt",
            "formation at 0.05C, then 50 cycles at 0.2C, 60 °C, 15 MPa (Model 4, 75 wt%)",
            "kim2025/cycling-0.2C.yaml",
            MODEL4_75,
            expectations(PAPER, "cycling-75wt"),
            overrides={"log": "60 s"},
            slot=True,
            press=True,
        ),
        Procedure(
            "first-0.2C-model2",
            "formation at 0.05C, then the first 0.2C cycle, 60 °C, 15 MPa (Model 2, 85 wt%)",
            "kim2025/cycling-0.2C.yaml",
            MODEL2_85,
            expectations(PAPER, "first-0.2C-model2"),
            overrides={"cycles": 1},
            slot=True,
            press=True,
        ),
        Procedure(
            "liquid-reference",
            "liquid-electrolyte NCM811 half cell at 0.1C, 25 °C",
            "kim2025/liquid-reference.yaml",
            LIQUID,
            expectations(PAPER, "liquid-reference"),
        ),
        Procedure(
            "se-conductivity",
            "small-particle LPSCl pellet between blocking electrodes, PEIS, 30 °C, 15 MPa",
            "kim2025/se-conductivity.yaml",
            "kim2025-lpscl-pellet",
            expectations(PAPER, "se-conductivity"),
            slot=True,
            press=True,
        ),
    ]
