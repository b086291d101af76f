"""gao2025: dry-film NCM811 and NCM811/LLZO against Li metal, in coin cells."""

from __future__ import annotations

from scheduler.papers.core import (
    Expectation,
    Procedure,
    capacity,
    percent,
    points,
    rate_at,
    summary_value,
)
from scheduler.papers.derive import gitt_at_mid_soc

GAO_LLZO, GAO_BARE = "gao2025-dfncm-llzo", "gao2025-dfncm"


def procedures() -> list[Procedure]:
    procs = [
        Procedure(
            "rate-llzo",
            "rate capability, DFNCM/LLZO",
            "gao2025/rate-full-charge.yaml",
            GAO_LLZO,
            (
                capacity("1C discharge capacity, DFNCM/LLZO", 169.6, rate_at("1C")),
                capacity("2C discharge capacity, DFNCM/LLZO", 138.3, rate_at("2C")),
                capacity("3C discharge capacity, DFNCM/LLZO", 103.1, rate_at("3C")),
            ),
            overrides={"cycles_per_rate": 1},
        ),
    ]
    for preset, name, ce_value, retention, ea, d in (
        (GAO_LLZO, "DFNCM/LLZO", 92.25, 93.7, 29.76, 1.43e-8),
        (GAO_BARE, "DFNCM", 90.47, 85.7, 33.17, 1.24e-8),
    ):
        tag = "llzo" if preset == GAO_LLZO else "bare"
        procs += [
            Procedure(
                f"formation-{tag}",
                f"first cycle at 0.1C, {name}",
                "gao2025/formation.yaml",
                preset,
                (
                    points(
                        f"first-cycle CE at 0.1C, {name}",
                        ce_value,
                        percent("cycle_summary", "first_cycle_CE"),
                    ),
                ),
            ),
            Procedure(
                f"cycling-{tag}",
                f"100 cycles at 0.5C, {name}",
                "gao2025/cycling-0.5C.yaml",
                preset,
                (
                    points(
                        f"retention after 100 cycles at 0.5C, {name}",
                        retention,
                        percent("cycle_summary", "retention"),
                    ),
                ),
                overrides={"log": "60 s"},
            ),
            Procedure(
                f"vt-eis-{tag}",
                f"variable-temperature EIS, {name}",
                "gao2025/vt-eis.yaml",
                preset,
                (
                    Expectation(
                        f"Ea of charge transfer (ln 1/Rct vs 1/T), {name}",
                        ea,
                        "kJ/mol",
                        0.05,
                        "rel",
                        summary_value("arrhenius_rct", "Ea_kJ_mol"),
                    ),
                ),
                slot=True,
            ),
            Procedure(
                f"gitt-{tag}",
                f"GITT at mid SOC, {name}",
                "gao2025/gitt.yaml",
                preset,
                (
                    Expectation(
                        f"GITT D (median of valid pulses), {name}",
                        d,
                        "cm²/s",
                        0.25,
                        "rel",
                        summary_value("gitt", "D_cm2_s_median"),
                    ),
                ),
                derive=gitt_at_mid_soc(),
            ),
        ]
    return procs


NOT_REPRODUCED: list[dict[str, str]] = [
    {
        "quantity": "first-cycle CE at 1C (99.53 % vs 96.02 %)",
        "why": "a CC charge and CC discharge at 1C give ~78 % CE in the single-D particle "
        "model (solid diffusion limits both ends); the presets do not claim it",
    },
    {
        "quantity": "1C cycling dry vs wet film (75 % vs 64 %), loading series at 54 mg/cm², "
        "pouch cell (96 % after 50 cycles)",
        "why": "no preset for the wet film, the 54 mg/cm² electrode or the pouch cell",
    },
    {
        "quantity": "rate capability of bare DFNCM, CV polarisation, Rct after cycling",
        "why": "reported only as comparisons (lower/higher), not as numbers",
    },
]
