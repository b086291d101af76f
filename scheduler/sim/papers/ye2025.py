"""ye2025: PVDF-coated NCM811 with a garnet-rich polymer electrolyte, against Li metal.

The numbers the paper reports are in protocols/library/ye2025/reported.toml.
"""

from __future__ import annotations

from scheduler.sim.papers.core import Procedure, expectations
from scheduler.sim.papers.derive import gitt_at_mid_soc

PAPER = "ye2025"
PVDF, BARE = "ye2025-ncm-pvdf", "ye2025-ncm-bare"


def procedures() -> list[Procedure]:
    return [
        Procedure(
            "conductivity",
            "GRSE conductivity 30–80 °C (the series resistance of the NCM@PVDF cell)",
            "ye2025/conductivity-vs-temperature.yaml",
            PVDF,
            expectations(PAPER, "conductivity"),
            slot=True,
            start_degC=30.0,
        ),
        Procedure(
            "rate",
            "rate capability, NCM@PVDF",
            "ye2025/rate.yaml",
            PVDF,
            expectations(PAPER, "rate"),
            overrides={"cycles_per_rate": 1},
        ),
        Procedure(
            "transference-number",
            "Li+ transference number by Bruce–Vincent (Li | GRSE | Li, 10 mV)",
            "ye2025/transference-number.yaml",
            "ye2025-grse-li-li",
            expectations(PAPER, "transference-number"),
        ),
        Procedure(
            "window",
            "electrochemical window by LSV (SS | GRSE | Li, 0.1 mV/s)",
            "ye2025/window-lsv.yaml",
            "ye2025-grse-ss-li",
            expectations(PAPER, "window"),
        ),
        Procedure(
            "li-li",
            "Li‖Li plating/stripping, ±0.1 mA/cm² for 1 h each way, 1000 h",
            "ye2025/li-li-symmetric.yaml",
            "ye2025-grse-li-li",
            expectations(PAPER, "li-li"),
        ),
        *_cathode_procedures(),
    ]


def _cathode_procedures() -> list[Procedure]:
    """CV and GITT of both cathodes, and the bare NCM811 cell's cycling and rate capability."""
    cvs = [
        Procedure(
            f"cv-{tag}",
            f"cyclic voltammetry at 0.1 mV/s, {name}",
            "ye2025/cv.yaml",
            preset,
            expectations(PAPER, f"cv-{tag}"),
            overrides={"cycles": 1},
        )
        for tag, name, preset in (("pvdf", "NCM@PVDF", PVDF), ("bare", "bare NCM", BARE))
    ]
    return [
        *cvs,
        Procedure(
            "cycling-bare",
            "0.5C cycling of bare NCM: formation at 0.1C, then 30 cycles",
            "ye2025/cycling-0.5C.yaml",
            BARE,
            expectations(PAPER, "cycling-bare"),
            overrides={"cycles": 30},  # the paper's statement is about the first 30 cycles
        ),
        Procedure(
            "rate-bare",
            "rate capability, bare NCM",
            "ye2025/rate.yaml",
            BARE,
            expectations(PAPER, "rate-bare"),
            overrides={"cycles_per_rate": 1},
        ),
        *(
            Procedure(
                f"gitt-{tag}",
                f"GITT at mid SOC, {name} (D for the comparison; the paper gives no value)",
                "ye2025/gitt.yaml",
                preset,
                expectations(PAPER, f"gitt-{tag}"),
                # bare NCM's L²/D ≈ 3500 s: 4 h rests let its pulses relax; the same for both
                overrides={"relax": "4 h", "relax_dV_dt": "0.05 mV/h"},
                derive=gitt_at_mid_soc(n_pulses=4, precharge="3 h", log="2 s"),
            )
            for tag, name, preset in (("pvdf", "NCM@PVDF", PVDF), ("bare", "bare NCM", BARE))
        ),
    ]
