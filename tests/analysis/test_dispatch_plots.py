"""The report's plots: the right figures for the analyses, with axes, units, legend and series."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from analysis_sim import gitt, rate_ladder

from protocols.analysis.dispatch import analyze_run
from protocols.analysis.report_plots import (
    report_figures,
    representative_cycles,
    write_report_plots,
)
from simulators.cell import Cell, load_preset

PRESET = load_preset("gao2025-dfncm-llzo")
CELL = {
    "name": "llzo-7",
    "active_mass_g": PRESET.active_mass_g,
    "area_cm2": PRESET.area_cm2,
    "specific_capacity_mAh_g": 200.0,
    "extra": {"diffusion_length_um": PRESET.diffusion_length_um},
}
META = {"name": "gao2025-rate", "metadata": {"thickness_um": 52.5}}


def _legend_title(ax) -> str:
    legend = ax.get_legend()
    assert legend is not None
    return legend.get_title().get_text()


def _markers_and_lines(ax) -> tuple[int, int]:
    lines = [line for line in ax.get_lines() if line.get_label() and line.get_xdata().size]
    markers = [line for line in lines if line.get_linestyle() in ("None", "")]
    return len(markers), len(lines) - len(markers)


def test_representative_cycles_keep_first_and_last() -> None:
    assert representative_cycles([1, 2, 3]) == [1, 2, 3]
    picked = representative_cycles(list(range(1, 102)))
    assert len(picked) == 6 and picked[0] == 1 and picked[-1] == 101


def test_cycling_and_rate_figures(tmp_path) -> None:
    samples = rate_ladder(
        Cell(PRESET, seed=4), rates=[0.1, 0.5, 1.0, 2.0], cycles_per_rate=2, charge_rate=0.2
    )
    report = analyze_run(
        samples, [], [], cell=CELL, protocol_meta=META, analyses=["cycle_summary", "rate_table"]
    )
    figures = report_figures(report, samples, [], active_mass_g=CELL["active_mass_g"])
    assert set(figures) == {"voltage_vs_capacity", "capacity_and_ce", "rate_capability"}
    title = "llzo-7 — gao2025-rate"

    ax = figures["voltage_vs_capacity"].axes[0]
    assert ax.get_xlabel() == "Capacity / mAh/g" and ax.get_ylabel() == "Voltage / V"
    assert _legend_title(ax) == title
    # 8 cycles → 6 drawn, each a charge and a discharge curve, one legend entry per cycle
    assert len(ax.get_lines()) == 12
    assert len(ax.get_legend().get_texts()) == 6

    ax = figures["capacity_and_ce"].axes[0]
    assert ax.get_xlabel() == "Cycle / 1" and ax.get_ylabel() == "Capacity / mAh/g"
    assert figures["capacity_and_ce"].axes[1].get_ylabel() == "Coulombic efficiency / %"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "discharge capacity",
        "charge capacity",
        "Coulombic efficiency",
    ]

    ax = figures["rate_capability"].axes[0]
    assert ax.get_xlabel() == "Discharge rate / C"
    assert ax.get_ylabel() == "Discharge capacity / mAh/g"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1C", "0.5C", "1C", "2C"]
    assert len(ax.patches) == 4 and _legend_title(ax) == title

    paths = write_report_plots(report, samples, [], tmp_path, stem="run9", active_mass_g=0.02)
    assert sorted(p.name for p in paths.values()) == [
        "run9-capacity-ce.png",
        "run9-rate.png",
        "run9-voltage-capacity.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in paths.values())
    plt.close("all")


def test_gitt_figure() -> None:
    cell = Cell(PRESET, soc=0.5, seed=6)
    l2d = cell.truth()["L2_over_D_s"]
    samples = gitt(cell, current_A=0.5 * PRESET.one_c_A, tau_s=0.02 * l2d, rest_s=3 * l2d, pulses=3)
    report = analyze_run(samples, [], [], cell=CELL, protocol_meta=META, analyses=["gitt"])
    [fig] = report_figures(report, samples, []).values()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "D / cm² s⁻¹" and ax.get_yscale() == "log"
    assert ax.get_xlabel() in ("State of charge / 1", "Charge passed / mAh")
    assert "L = 37.9 µm" in ax.get_title()
    # both forms (ΔEs/ΔEt and √t), valid pulses only: two marker series of three points
    assert _markers_and_lines(ax) == (2, 0)
    assert all(line.get_xdata().size == 3 for line in ax.get_lines())
    plt.close("all")


def test_nyquist_and_arrhenius_figures() -> None:
    cell = Cell(PRESET, soc=0.5, seed=8)
    f = np.logspace(6, -1, 50)
    spectra = []
    for t in (25.0, 45.0, 65.0):
        cell.set_temperature(t)
        z = cell.measured_impedance(f)
        spectra.append(
            {"frequency_Hz": f, "z_real_ohm": z.real, "z_imag_ohm": z.imag, "temperature_degC": t}
        )
    report = analyze_run(
        {},
        spectra,
        [],
        cell=CELL,
        protocol_meta=META,
        analyses=["eis_fit", "arrhenius_rct", "arrhenius_conductivity"],
    )
    figures = report_figures(report, {}, spectra)
    assert set(figures) == {"nyquist", "arrhenius_rct", "arrhenius_conductivity"}
    ax = figures["nyquist"].axes[0]
    assert ax.get_xlabel() == "Re Z / Ω" and ax.get_ylabel() == "−Im Z / Ω"
    assert _markers_and_lines(ax) == (3, 3)  # each spectrum and its fit
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "spectrum 1 at 25 °C" and labels[1].startswith("fit, Rct = ")

    ax = figures["arrhenius_rct"].axes[0]
    assert ax.get_xlabel() == "1000/T / K⁻¹" and ax.get_ylabel() == "ln(1/Rct / S)"
    assert _markers_and_lines(ax) == (1, 1)
    fit_label = ax.get_lines()[1].get_label()
    ea = report.get("arrhenius_rct").summary["Ea_kJ_mol"]
    assert f"Ea = {ea:.2f} kJ/mol" in fit_label
    assert ea == pytest.approx(PRESET.Ea_ct_kJ_mol, rel=0.05)
    assert figures["arrhenius_conductivity"].axes[0].get_ylabel() == "ln(σ / S cm⁻¹)"
    assert _legend_title(ax) == "llzo-7 — gao2025-rate"
    plt.close("all")
