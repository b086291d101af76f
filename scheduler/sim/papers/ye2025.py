"""ye2025: PVDF-coated NCM811 with a garnet-rich polymer electrolyte, against Li metal."""

from __future__ import annotations

from scheduler.sim.papers.core import (
    Expectation,
    Procedure,
    conductivity_at,
    rate_at,
    summary_value,
)
from scheduler.sim.papers.derive import gitt_at_mid_soc


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
        Procedure(
            "transference-number",
            "Li+ transference number by Bruce–Vincent (Li | GRSE | Li, 10 mV)",
            "ye2025/transference-number.yaml",
            "ye2025-grse-li-li",
            (
                Expectation(
                    "Li+ transference number t+ (Bruce–Vincent)",
                    0.39,
                    "-",
                    0.05,
                    "rel",
                    summary_value("bruce_vincent", "t_plus"),
                    note="±5 %: with R0 ≈ 16·R_b, 0.1 % on I0 moves t+ by ~1.6 %",
                ),
            ),
        ),
        Procedure(
            "window",
            "electrochemical window by LSV (SS | GRSE | Li, 0.1 mV/s)",
            "ye2025/window-lsv.yaml",
            "ye2025-grse-ss-li",
            (
                Expectation(
                    "decomposition onset of the GRSE (LSV)",
                    4.62,
                    "V",
                    0.02,
                    "abs",
                    summary_value("lsv_window", "onset_V"),
                    note="first potential where |j| stays above 0.01 mA/cm²; ±20 mV",
                ),
            ),
        ),
        Procedure(
            "li-li",
            "Li‖Li plating/stripping, ±0.1 mA/cm² for 1 h each way, 1000 h",
            "ye2025/li-li-symmetric.yaml",
            "ye2025-grse-li-li",
            (
                Expectation(
                    "Li‖Li cycling without a short",
                    1000.0,
                    "h",
                    0.02,
                    "rel",
                    summary_value("li_li_overpotential", "stable_h"),
                    note="from the first half cycle to a short or to the end of the test",
                ),
                Expectation(
                    "Li‖Li overpotential settled after",
                    100.0,
                    "h",
                    0.25,
                    "rel",
                    summary_value("li_li_overpotential", "settled_after_h"),
                    note="every later plateau |V| within ±10 % of the steady one; ±25 % for a "
                    "time the paper gives as 'after 100 h'",
                ),
            ),
        ),
        *_cathode_procedures(),
    ]


PVDF, BARE = "ye2025-ncm-pvdf", "ye2025-ncm-bare"
CV_NOTE = (
    "the first cycle from OCV (the paper does not say which cycle): the bare cell's interphase "
    "grows with every cycle, so its later peaks drift apart while NCM@PVDF's stay put"
)


def _cathode_procedures() -> list[Procedure]:
    """CV and GITT of both cathodes, and the bare NCM811 cell's cycling and rate capability."""
    cvs = [
        Procedure(
            f"cv-{tag}",
            f"cyclic voltammetry at 0.1 mV/s, {name}",
            "ye2025/cv.yaml",
            preset,
            (
                Expectation(
                    f"H1–M oxidation peak (CV 0.1 mV/s), {name}",
                    e_pa,
                    "V",
                    0.010,
                    "abs",
                    summary_value("cv_peaks", "E_pa_V"),
                    note="±10 mV: a peak read off a 0.1 mV/s voltammogram; " + CV_NOTE,
                ),
                Expectation(
                    f"H1–M redox peak separation (CV 0.1 mV/s), {name}",
                    separation,
                    "V",
                    0.15,
                    "rel",
                    summary_value("cv_peaks", "delta_Ep_V"),
                    note="±15 %: the difference of two peaks read to ~±10 mV each",
                ),
            ),
            overrides={"cycles": 1},
        )
        for tag, name, preset, e_pa, separation in (
            ("pvdf", "NCM@PVDF", PVDF, 3.774, 0.107),
            ("bare", "bare NCM", BARE, 3.843, 0.215),
        )
    ]
    return [
        *cvs,
        Procedure(
            "cycling-bare",
            "0.5C cycling of bare NCM: formation at 0.1C, then 30 cycles",
            "ye2025/cycling-0.5C.yaml",
            BARE,
            (
                Expectation(
                    "first 0.5C discharge capacity, bare NCM",
                    100.0,
                    "mAh/g",
                    0.0,
                    "max",
                    summary_value("cycle_summary", "reference_discharge"),
                    note="the paper: 'less than 100 mA h g⁻¹ and decays rapidly at 0.5 C'",
                ),
                Expectation(
                    "0.5C discharge capacity after 30 cycles, bare NCM",
                    0.0,
                    "mAh/g",
                    15.0,
                    "abs",
                    summary_value("cycle_summary", "last_discharge"),
                    note="the paper: 'approaches 0 mA h g⁻¹ after 30 cycles'; within 15 mAh/g of "
                    "0, under a tenth of NCM@PVDF's ~170 mAh/g at 0.5C",
                ),
            ),
            overrides={"cycles": 30},  # the paper's statement is about the first 30 cycles
        ),
        Procedure(
            "rate-bare",
            "rate capability, bare NCM",
            "ye2025/rate.yaml",
            BARE,
            (
                Expectation(
                    "2C discharge capacity, bare NCM",
                    0.0,
                    "mAh/g",
                    10.0,
                    "abs",
                    rate_at("2C"),
                    note="the paper: 'almost 0' at 2C; within 10 mAh/g of 0, a tenth of "
                    "NCM@PVDF's ~100 mAh/g",
                ),
            ),
            overrides={"cycles_per_rate": 1},
        ),
        *(
            Procedure(
                f"gitt-{tag}",
                f"GITT at mid SOC, {name} (D for the comparison; the paper gives no value)",
                "ye2025/gitt.yaml",
                preset,
                (),
                # bare NCM's L²/D ≈ 3500 s: 4 h rests let its pulses relax; the same for both
                overrides={"relax": "4 h", "relax_dV_dt": "0.05 mV/h"},
                derive=gitt_at_mid_soc(n_pulses=4, precharge="3 h", log="2 s"),
            )
            for tag, name, preset in (("pvdf", "NCM@PVDF", PVDF), ("bare", "bare NCM", BARE))
        ),
    ]


NOT_REPRODUCED: list[dict[str, str]] = [
    {
        "quantity": "GITT: NCM@PVDF 'much higher D' than bare NCM",
        "why": "a comparison without a number, so no row here: the gitt-pvdf and gitt-bare runs "
        "measure both D at mid SOC (their presets: 2.0e-10 and 5.0e-11 cm²/s at L = 4.2 µm)",
    },
]
