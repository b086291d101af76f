"""ye2025: PVDF-coated NCM811 with a garnet-rich polymer electrolyte, against Li metal."""

from __future__ import annotations

from scheduler.papers.core import (
    Expectation,
    Procedure,
    conductivity_at,
    rate_at,
    summary_value,
)


def procedures() -> list[Procedure]:
    return [
        Procedure(
            "conductivity",
            "GRSE conductivity 30–80 °C (the series resistance of the NCM@PVDF cell)",
            "ye2025/conductivity-vs-temperature.yaml",
            "ye2025-ncm-pvdf",
            (
                Expectation(
                    "GRSE conductivity at 30 °C", 0.61, "mS/cm", 0.03, "rel", conductivity_at(30.0)
                ),
                Expectation(
                    "GRSE conductivity at 80 °C", 1.59, "mS/cm", 0.03, "rel", conductivity_at(80.0)
                ),
                Expectation(
                    "Ea of GRSE conduction (ln σ vs 1/T)",
                    0.18,
                    "eV",
                    0.05,
                    "rel",
                    summary_value("arrhenius_conductivity", "Ea_eV"),
                ),
            ),
            slot=True,
            start_degC=30.0,
        ),
        Procedure(
            "rate",
            "rate capability, NCM@PVDF",
            "ye2025/rate.yaml",
            "ye2025-ncm-pvdf",
            (
                Expectation(
                    "2C discharge capacity, NCM@PVDF",
                    100.0,
                    "mAh/g",
                    0.05,
                    "rel",
                    rate_at("2C"),
                    note="the paper gives ~100 mAh/g; ±5 % for a value read as approximate",
                ),
            ),
            overrides={"cycles_per_rate": 1},
        ),
    ]


NOT_REPRODUCED: list[dict[str, str]] = [
    {
        "quantity": "t+ = 0.39 (Bruce–Vincent), Li‖Li stable 1000 h",
        "why": "the simulator has no Li‖Li symmetric cell; its cell is NCM811 | Li",
    },
    {
        "quantity": "decomposition onset at 4.62 V (LSV)",
        "why": "the cell model has no electrolyte oxidation current",
    },
    {
        "quantity": "CV peak separation 0.215 V vs 0.107 V, oxidation peak 3.843 V vs 3.774 V",
        "why": "the NCM811 OCV curve has no H1–M phase-transition peaks, and bare NCM has "
        "no preset",
    },
    {
        "quantity": "bare NCM < 100 mAh/g at 0.5C and ~0 at 2C; GITT 'much higher D'",
        "why": "no preset for bare NCM811 with the GRSE",
    },
]
