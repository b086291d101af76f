"""The PNG plots of an analysis report: whichever of them the report's analyses support.

Voltage vs capacity (a few representative cycles), capacity and CE vs cycle, rate bars,
GITT D vs SOC, Nyquist with fits (all spectra of the run in one figure), the Arrhenius
line, the LSV window, Li‖Li cycling and the cyclic voltammogram with its peaks. Every figure
names the cell and protocol in its legend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from protocols.analysis import plots, technique_plots
from protocols.analysis.cv_plot import cv_figure
from protocols.analysis.dispatch import Report

MAX_CYCLES_DRAWN = 6


def representative_cycles(cycles: Sequence[int], keep: int = MAX_CYCLES_DRAWN) -> list[int]:
    """At most `keep` cycle numbers spread over the run, always the first and the last."""
    unique = sorted(set(int(c) for c in cycles))
    if len(unique) <= keep:
        return unique
    picks = np.unique(np.round(np.linspace(0, len(unique) - 1, keep)).astype(int))
    return [unique[i] for i in picks]


def nyquist_all_figure(
    spectra: Sequence[Mapping[str, Any]],
    fits: Sequence[Any],
    *,
    cell: str = "",
    protocol: str = "",
    title: str = "",
) -> Any:
    """Every spectrum of a run (markers) with its fitted circuit (line), labelled by T."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5.2), dpi=110)
    cmap = plt.get_cmap("plasma")
    n = len(spectra)
    for k, (spectrum, fit) in enumerate(zip(spectra, fits, strict=True)):
        colour = cmap(0.85 * k / max(1, n - 1))
        z_re = np.asarray(spectrum["z_real_ohm"], dtype=float)
        z_im = np.asarray(spectrum["z_imag_ohm"], dtype=float)
        t = spectrum.get("temperature_degC")
        name = f"spectrum {k + 1}" + (f" at {t:.0f} °C" if t is not None else "")
        ax.plot(z_re, -z_im, "o", ms=3, mfc="none", color=colour, label=name)
        if fit is not None:
            zf = fit["fit"].z_fit()
            rct = fit["fit"].Rct_ohm
            label = "fit" + (f", Rct = {rct:.3g} Ω" if rct is not None else "")
            ax.plot(zf.real, -zf.imag, "-", lw=1.2, color=colour, label=label)
    ax.set_xlabel("Re Z / Ω")
    ax.set_ylabel("−Im Z / Ω")
    heading = title or "Nyquist plot with equivalent-circuit fits"
    span = _arc_span(fits)
    widest = max((float(np.max(s["z_real_ohm"])) for s in spectra), default=0.0)
    if span is not None and widest > 2.0 * span:
        # a long diffusion tail would shrink the arcs to a dot: show the arcs, say so
        ax.set_xlim(0.0, 1.6 * span)
        ax.set_ylim(0.0, 1.0 * span)
        ax.set_aspect("equal", adjustable="box")
        heading += " (low-frequency tail clipped)"
    else:
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(heading)
    ax.grid(alpha=0.3)
    plots._legend(ax, cell, protocol, loc="upper left", ncol=2 if n > 3 else 1)
    return fig


def report_figures(
    report: Report,
    samples: Mapping[str, Any],
    spectra: Sequence[Mapping[str, Any]],
    *,
    active_mass_g: float | None = None,
) -> dict[str, Figure]:
    """The figures the report supports, by name (the caller saves or closes them)."""
    labels = {"cell": report.cell, "protocol": report.protocol}
    figures: dict[str, Figure] = {}
    cycles = report.get("cycle_summary")
    if cycles is not None and "cycle" in samples:
        rows = cycles.result
        chosen = representative_cycles([r.cycle for r in rows])
        mask = np.isin(np.asarray(samples["cycle"]).astype(int), chosen)
        subset = {k: np.asarray(v)[mask] for k, v in samples.items() if len(v) == len(mask)}
        figures["voltage_vs_capacity"] = plots.voltage_vs_capacity_figure(
            half_cycles(subset),
            active_mass_g=active_mass_g,
            title="Voltage vs capacity"
            + (f" (cycles {', '.join(map(str, chosen))})" if len(rows) > len(chosen) else ""),
            **labels,
        )
        if len(rows) > 1:
            figures["capacity_and_ce"] = plots.capacity_and_ce_figure(rows, **labels)
    rate = report.get("rate_capability")
    if rate is not None:
        figures["rate_capability"] = plots.rate_capability_figure(rate.result, **labels)
    gitt = report.get("gitt")
    if gitt is not None:
        figures["gitt_diffusion"] = plots.gitt_diffusion_figure(gitt.result, **labels)
    eis = report.get("eis_fit")
    if eis is not None:
        figures["nyquist"] = nyquist_all_figure(spectra, eis.result, **labels)
    lsv = report.get("lsv_window")
    if lsv is not None:
        figures["lsv_window"] = technique_plots.lsv_window_figure(lsv.result, samples, **labels)
    li_li = report.get("li_li_overpotential")
    if li_li is not None:
        figures["li_li"] = technique_plots.li_li_figure(li_li.result, samples, **labels)
    cv = report.get("cv_peaks")
    if cv is not None:
        figures["cv"] = cv_figure(cv.result, samples, **labels)
    for kind, y_label in (
        ("arrhenius_rct", "ln(1/Rct / S)"),
        ("arrhenius_conductivity", "ln(σ / S cm⁻¹)"),  # the dispatch gives σ in S/cm
    ):
        fit = report.get(kind)
        if fit is not None:
            fig = plots.arrhenius_figure(fit.result, **labels)
            fig.axes[0].set_ylabel(y_label)
            figures[kind] = fig
    return figures


FILE_NAMES = {
    "voltage_vs_capacity": "voltage-capacity",
    "capacity_and_ce": "capacity-ce",
    "rate_capability": "rate",
    "gitt_diffusion": "gitt-D",
    "nyquist": "nyquist",
    "arrhenius_rct": "arrhenius-rct",
    "arrhenius_conductivity": "arrhenius-conductivity",
    "lsv_window": "lsv-window",
    "li_li": "li-li",
    "cv": "cv",
}


def _arc_span(fits: Sequence[Any]) -> float | None:
    """The largest Rs + Σ R of the arcs over the fitted spectra (None without fits)."""
    spans = [
        (f["fit"].Rs_ohm or 0.0) + sum(arc.R_ohm for arc in f["fit"].arcs)
        for f in fits
        if f is not None
    ]
    return max(spans) if spans else None


def half_cycles(samples: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The samples with `step_count` renumbered by half cycle: consecutive steps that carry
    current the same way (a discharge logged in two parts, the CC and CV of a charge) draw
    as one curve."""
    current = np.nan_to_num(np.asarray(samples["current_A"], dtype=float))
    sign = np.sign(current)
    moving = sign != 0
    segment = np.zeros(current.size, dtype=np.int64)
    last, number = 0.0, 0
    for k in np.flatnonzero(moving):
        if sign[k] != last:
            number += 1
            last = sign[k]
        segment[k] = number
    out = {k: np.asarray(v) for k, v in samples.items()}
    out["step_count"] = segment
    return out


def write_report_plots(
    report: Report,
    samples: Mapping[str, Any],
    spectra: Sequence[Mapping[str, Any]],
    output_dir: Path,
    *,
    stem: str,
    active_mass_g: float | None = None,
) -> dict[str, Path]:
    """Write the plots the report supports into `output_dir`; returns {plot name: path}."""
    figures = report_figures(report, samples, spectra, active_mass_g=active_mass_g)
    return {
        name: plots._save(fig, Path(output_dir) / f"{stem}-{FILE_NAMES[name]}.png")
        for name, fig in figures.items()
    }
