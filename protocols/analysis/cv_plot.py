"""Plot of a cyclic voltammogram with the anodic and cathodic peaks the analysis found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from protocols.analysis.plots import _legend, plt
from protocols.analysis.techniques import CvCycle


def cv_figure(
    cycles: Sequence[CvCycle], samples: Mapping[str, Any], *, cell: str = "", protocol: str = ""
) -> Figure:
    """Current against potential, each cycle's peaks marked, the last cycle's ΔEp written."""
    voltage = np.asarray(samples["voltage_V"], dtype=float)
    current = np.nan_to_num(np.asarray(samples["current_A"], dtype=float)) * 1e3
    swept = current != 0.0  # rests before the sweep carry no current
    if np.count_nonzero(swept) >= 2:
        voltage, current = voltage[swept], current[swept]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(voltage, current, "-", lw=1.0, label="voltammogram")
    for row in cycles:
        label = f"cycle {row.cycle}: E_pa {row.E_pa_V:.3f} V"
        ax.plot(row.E_pa_V, row.i_pa_A * 1e3, "^", ms=7, label=label)
        if row.E_pc_V is not None and row.i_pc_A is not None:
            ax.plot(row.E_pc_V, row.i_pc_A * 1e3, "v", ms=7, label=f"E_pc {row.E_pc_V:.3f} V")
    last = cycles[-1] if cycles else None
    if last is not None and last.delta_Ep_V is not None:
        ax.set_title(f"Cyclic voltammogram (ΔEp = {last.delta_Ep_V * 1e3:.0f} mV, last cycle)")
    else:
        ax.set_title("Cyclic voltammogram")
    ax.axhline(0.0, lw=0.6, color="grey")
    ax.set_xlabel("Potential / V")
    ax.set_ylabel("Current / mA")
    ax.grid(alpha=0.3)
    _legend(ax, cell, protocol, loc="best")
    return fig
