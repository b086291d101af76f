"""PNG plots with labelled axes and a legend naming the cell and protocol."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def voltage_vs_capacity(
    samples: Mapping[str, np.ndarray],
    path: Path,
    *,
    active_mass_g: float | None = None,
    title: str = "",
    cell: str = "",
    protocol: str = "",
) -> Path:
    """Voltage against the capacity passed within each half cycle, one colour per cycle."""
    voltage = np.asarray(samples["voltage_V"], dtype=float)
    current = np.asarray(samples["current_A"], dtype=float)
    cycles = np.asarray(samples["cycle"]).astype(int)
    steps = np.asarray(samples["step_count"]).astype(int)
    charge = np.nan_to_num(np.asarray(samples["charge_capacity_Ah"], dtype=float))
    discharge = np.nan_to_num(np.asarray(samples["discharge_capacity_Ah"], dtype=float))
    scale = 1e3 / active_mass_g if active_mass_g else 1e3
    unit = "mAh/g" if active_mass_g else "mAh"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    cmap = plt.get_cmap("viridis")
    unique = np.unique(cycles)
    for k, number in enumerate(unique):
        colour = cmap(k / max(1, len(unique) - 1))
        labelled = False
        for step in np.unique(steps[cycles == number]):
            mask = (steps == step) & (cycles == number) & (np.abs(current) > 0)
            if mask.sum() < 2:
                continue
            charging = np.median(current[mask]) > 0
            q = (charge if charging else discharge)[mask]
            q = (q - q[0]) * scale
            ax.plot(
                q,
                voltage[mask],
                color=colour,
                lw=1.4,
                label=None if labelled else f"cycle {number}",
            )
            labelled = True
    ax.set_xlabel(f"Capacity / {unit}")
    ax.set_ylabel("Voltage / V")
    heading = title or "Voltage vs capacity"
    ax.set_title(heading)
    legend_title = " — ".join(x for x in (cell, protocol) if x) or None
    ax.legend(title=legend_title, fontsize=8, title_fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
