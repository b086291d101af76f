"""Every technique plot: axes with units, a legend naming the cell and protocol, its series."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from analysis_sim import gitt, rate_ladder

from protocols.analysis import (
    analyze_gitt,
    arrhenius,
    cycle_summary,
    discharge_c_rates,
    fit_spectrum,
    plots,
    rate_table,
)
from simulators.cell import Cell, load_preset

CELL, PROTOCOL = "gao2025 DFNCM/LLZO", "library/gao2025"
LABELS = {"cell": CELL, "protocol": PROTOCOL}
FREQUENCIES = np.logspace(6, -1, 71)


@pytest.fixture(scope="module")
def params():
    return load_preset("gao2025-dfncm-llzo")


@pytest.fixture(scope="module")
def summary_and_table(params):
    cell = Cell(params, soc=0.0, seed=1)
    samples = rate_ladder(cell, rates=[0.1, 1.0, 2.0, 0.1], cycles_per_rate=2)
    summary = cycle_summary(samples, active_mass_g=params.active_mass_g)
    return summary, rate_table(summary, discharge_c_rates(samples, params.one_c_A))


def check(fig, *, x_unit: str, y_unit: str, series: int, kind: str = "lines") -> None:
    """Axis labels carry units, the legend names the cell and protocol, series are counted."""
    ax = fig.axes[0]
    assert x_unit in ax.get_xlabel() and y_unit in ax.get_ylabel()
    legend = ax.get_legend()
    assert legend is not None
    assert CELL in legend.get_title().get_text() and PROTOCOL in legend.get_title().get_text()
    assert len(legend.get_texts()) == series
    if kind == "lines":
        drawn = sum(len(a.get_lines()) for a in fig.axes)
        assert drawn == series
    plt.close(fig)


def check_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # something is drawn on it


def test_capacity_and_ce(summary_and_table, tmp_path: Path) -> None:
    summary, _ = summary_and_table
    fig = plots.capacity_and_ce_figure(summary, **LABELS)
    assert "%" in fig.axes[1].get_ylabel()
    check(fig, x_unit="/ 1", y_unit="mAh/g", series=3)
    check_png(plots.capacity_and_ce(summary, tmp_path / "capacity.png", **LABELS))


def test_rate_bars(summary_and_table, tmp_path: Path) -> None:
    _, table = summary_and_table
    fig = plots.rate_capability_figure(table, **LABELS)
    ax = fig.axes[0]
    assert len(ax.patches) == len(table.rows)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1C", "1C", "2C", "0.1C"]
    assert "recovery" in ax.get_title()
    check(fig, x_unit="/ C", y_unit="mAh/g", series=1, kind="bars")
    check_png(plots.rate_capability(table, tmp_path / "rate.png", **LABELS))


def test_gitt_d_vs_soc(params, tmp_path: Path) -> None:
    cell = Cell(params, soc=0.4, seed=2)
    truth = cell.truth()
    samples = gitt(
        cell,
        current_A=0.5 * params.one_c_A,
        tau_s=0.02 * truth["L2_over_D_s"],
        rest_s=3 * truth["L2_over_D_s"],
        pulses=4,
    )
    result = analyze_gitt(
        samples,
        diffusion_length_cm=truth["diffusion_length_um"] * 1e-4,
        capacity_Ah=params.capacity_Ah,
        initial_soc=0.4,
    )
    fig = plots.gitt_diffusion_figure(result, **LABELS)
    assert fig.axes[0].get_yscale() == "log"
    check(fig, x_unit="/ 1", y_unit="cm² s⁻¹", series=2)  # both forms, all pulses valid
    check_png(plots.gitt_diffusion(result, tmp_path / "gitt.png", **LABELS))


def test_nyquist_with_fit(params, tmp_path: Path) -> None:
    z = Cell(params, soc=0.5, seed=3).measured_impedance(FREQUENCIES)
    fit = fit_spectrum(FREQUENCIES, z.real, z.imag)
    fig = plots.nyquist_figure(FREQUENCIES, z, fit=fit, **LABELS)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Rct = " in texts[1]
    check(fig, x_unit="/ Ω", y_unit="/ Ω", series=2)
    check_png(plots.nyquist(FREQUENCIES, z, tmp_path / "nyquist.png", fit=fit, **LABELS))


def test_arrhenius_line(params, tmp_path: Path) -> None:
    cell = Cell(params, soc=0.5, seed=4)
    temps = [25.0, 45.0, 65.0]
    rct = []
    for t in temps:
        cell.set_temperature(t)
        z = cell.measured_impedance(FREQUENCIES)
        rct.append(fit_spectrum(FREQUENCIES, z.real, z.imag).Rct_ohm)
    result = arrhenius(temps, rct)
    fig = plots.arrhenius_figure(result, **LABELS)
    ax = fig.axes[0]
    fitted = ax.get_lines()[1]
    # the line drawn against 1000/T has the slope of ln(1/Rct) vs 1/T divided by 1000
    xs, ys = fitted.get_data()
    assert (ys[-1] - ys[0]) / (xs[-1] - xs[0]) == pytest.approx(result.slope_K / 1000.0)
    assert "kJ/mol" in ax.get_legend().get_texts()[1].get_text()
    check(fig, x_unit="1000/T / K⁻¹", y_unit="ln(1/Rct", series=2)
    check_png(plots.arrhenius_plot(result, tmp_path / "arrhenius.png", **LABELS))
