"""kim2025: all-solid-state NCM811@Li6PS5Cl composite cathodes under stack pressure."""

from __future__ import annotations

from scheduler.papers.core import (
    Expectation,
    Procedure,
    summary_value,
)


def procedures() -> list[Procedure]:
    return [
        Procedure(
            "formation",
            "formation at 0.05C, 60 °C, 15 MPa (Model 4, 85 wt%)",
            "kim2025/formation.yaml",
            "kim2025-model4-85wt",
            (
                Expectation(
                    "first-cycle discharge at 0.05C, 60 °C, Model 4 85 wt%",
                    198.88,
                    "mAh/g",
                    0.03,
                    "rel",
                    summary_value("cycle_summary", "first_discharge"),
                ),
            ),
            slot=True,
            press=True,
        ),
    ]


NOT_REPRODUCED: list[dict[str, str]] = [
    {
        "quantity": "~76 % retention after 50 cycles at 0.2C",
        "why": "reported for 75 wt% cells; the preset is Model 4 at 85 wt% (its own fade "
        "gives ~83 %), and the paper gives no 50-cycle retention for it",
    },
    {
        "quantity": "204.25 mAh/g (75 wt%), 116.4 mAh/g (Model 2), 204.8 mAh/g (liquid "
        "reference), 2.224 mS/cm (small-particle SE), 1258 Wh/L, tortuosities",
        "why": "no preset for those cells (only Model 4 at 85 wt% exists), and no "
        "electrolyte-only or blocking-electrode cell in the simulator",
    },
]
