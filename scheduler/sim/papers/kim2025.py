"""kim2025: all-solid-state NCM811@Li6PS5Cl composite cathodes under stack pressure."""

from __future__ import annotations

from scheduler.sim.papers.core import (
    Expectation,
    Procedure,
    capacity,
    conductivity_at,
    percent,
    points,
    summary_value,
)

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
            (
                Expectation(
                    "first-cycle discharge at 0.05C, 60 °C, Model 4 85 wt%",
                    198.88,
                    "mAh/g",
                    0.03,
                    "rel",
                    summary_value("cycle_summary", "first_discharge"),
                ),
                Expectation(
                    "volumetric energy density of the first discharge, Model 4 85 wt%",
                    1258.0,
                    "Wh/L",
                    0.03,
                    "rel",
                    summary_value("cycle_summary", "first_discharge_Wh_L"),
                    note="measured discharge energy / area × (cathode + 30 µm separator + "
                    "30 µm Li), as the paper's Fig. 5",
                ),
            ),
            slot=True,
            press=True,
            cell_extra=PRACTICAL_STACK,
        ),
        Procedure(
            "cycling-75wt",
            "formation at 0.05C, then 50 cycles at 0.2C, 60 °C, 15 MPa (Model 4, 75 wt%)",
            "kim2025/cycling-0.2C.yaml",
            MODEL4_75,
            (
                capacity(
                    "first-cycle discharge at 0.05C, 60 °C, Model 4 75 wt%",
                    204.25,
                    summary_value("cycle_summary", "first_discharge"),
                ),
                points(
                    "retention after 50 cycles at 0.2C, 60 °C, Model 4 75 wt%",
                    76.0,
                    percent("cycle_summary", "retention"),
                ),
            ),
            overrides={"log": "60 s"},
            slot=True,
            press=True,
        ),
        Procedure(
            "first-0.2C-model2",
            "formation at 0.05C, then the first 0.2C cycle, 60 °C, 15 MPa (Model 2, 85 wt%)",
            "kim2025/cycling-0.2C.yaml",
            MODEL2_85,
            (
                capacity(
                    "first-cycle discharge at 0.05C, 60 °C, Model 2 85 wt%",
                    165.52,
                    summary_value("cycle_summary", "first_discharge"),
                ),
                capacity(
                    "first 0.2C discharge after formation, 60 °C, Model 2 85 wt%",
                    116.4,
                    summary_value("cycle_summary", "reference_discharge"),
                ),
            ),
            overrides={"cycles": 1},
            slot=True,
            press=True,
        ),
        Procedure(
            "liquid-reference",
            "liquid-electrolyte NCM811 half cell at 0.1C, 25 °C",
            "kim2025/liquid-reference.yaml",
            LIQUID,
            (
                capacity(
                    "first discharge at 0.1C, liquid-electrolyte reference",
                    204.8,
                    summary_value("cycle_summary", "first_discharge"),
                ),
            ),
        ),
        Procedure(
            "se-conductivity",
            "small-particle LPSCl pellet between blocking electrodes, PEIS, 30 °C, 15 MPa",
            "kim2025/se-conductivity.yaml",
            "kim2025-lpscl-pellet",
            (
                Expectation(
                    "small-particle Li6PS5Cl conductivity at 30 °C",
                    2.224,
                    "mS/cm",
                    0.03,
                    "rel",
                    conductivity_at(30.0),
                    note="σ = L/(R·A), L = 776 µm from 100 mg at 1.64 g/cm³ in the 10 mm mould",
                ),
            ),
            slot=True,
            press=True,
        ),
    ]


NOT_REPRODUCED: list[dict[str, str]] = [
    {
        "quantity": "ionic and electronic tortuosity factors per model (DC polarisation)",
        "why": "PAPERS.md lists them per model without a number (they are in the paper's "
        "Fig. 3 and Tables S1-S4), so they are comparison-only; the simulator's blocking cells "
        "hold an electrolyte pellet, not a composite with separate ionic and electronic paths",
    },
]
