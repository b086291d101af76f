"""Plots of the electrolyte techniques: the LSV window with its onset, and Li‖Li cycling with
its plateau overpotential, steady level and settling time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from protocols.analysis.plots import _legend, plt
from protocols.analysis.techniques import LsvOnset, SymmetricCycling


def lsv_window_figure(
    result: LsvOnset, samples: Mapping[str, Any], *, cell: str = "", protocol: str = ""
) -> Figure:
    """Current density against potential, with the onset threshold and the onset found."""
    voltage = np.asarray(samples["voltage_V"], dtype=float)
    current = np.nan_to_num(np.asarray(samples["current_A"], dtype=float))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(voltage, current / result.area_cm2 * 1e3, "-", lw=1.2, label="linear sweep")
    ax.axhline(result.threshold_mA_cm2, ls="--", lw=1, color="grey", label="onset threshold")
    if result.onset_V is not None:
        ax.axvline(result.onset_V, ls=":", color="C3", label=f"onset {result.onset_V:.3f} V")
    ax.set_xlabel("Potential / V")
    ax.set_ylabel("Current density / mA cm⁻²")
    ax.set_title("Electrochemical window (LSV)")
    ax.grid(alpha=0.3)
    _legend(ax, cell, protocol, loc="upper left")
    return fig


def li_li_figure(
    result: SymmetricCycling, samples: Mapping[str, Any], *, cell: str = "", protocol: str = ""
) -> Figure:
    """Voltage against time, and each half cycle's plateau |V| with the steady level."""
    time_h = np.asarray(samples["test_time_s"], dtype=float) / 3600.0
    voltage = np.asarray(samples["voltage_V"], dtype=float) * 1e3
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True)
    top.plot(time_h, voltage, "-", lw=0.4, label="cell voltage")
    top.set_ylabel("Voltage / mV")
    top.set_title("Li‖Li plating and stripping")
    top.grid(alpha=0.3)
    _legend(top, cell, protocol, loc="upper right")
    starts = np.array([h.start_time_s for h in result.half_cycles]) / 3600.0
    plateaus = np.array([h.mean_abs_V for h in result.half_cycles]) * 1e3
    bottom.plot(starts, plateaus, ".", ms=2, label="plateau |V| per half cycle")
    if result.steady_mean_abs_V is not None:
        steady = result.steady_mean_abs_V * 1e3
        bottom.axhline(steady, ls="--", lw=1, color="grey", label=f"steady {steady:.3g} mV")
    if result.settled_after_s is not None and result.half_cycles:
        after_h = result.settled_after_s / 3600.0
        at = result.half_cycles[0].start_time_s / 3600.0 + after_h
        bottom.axvline(at, ls=":", color="C3", label=f"settled after {after_h:.0f} h of cycling")
    if result.short_at_s is not None:
        bottom.axvline(result.short_at_s / 3600.0, color="C1", label="short")
    bottom.set_xlabel("Time / h")
    bottom.set_ylabel("Overpotential / mV")
    bottom.grid(alpha=0.3)
    bottom.legend(fontsize=8, loc="upper right")
    return fig
