"""PNG plots with labelled axes and a legend naming the cell and protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from protocols.analysis.arrhenius import ArrheniusResult
from protocols.analysis.cycles import CycleSummary
from protocols.analysis.eis import EisFit
from protocols.analysis.gitt import GittResult
from protocols.analysis.rate import RateTable


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
    fig = voltage_vs_capacity_figure(
        samples, active_mass_g=active_mass_g, title=title, cell=cell, protocol=protocol
    )
    return _save(fig, path)


def voltage_vs_capacity_figure(
    samples: Mapping[str, np.ndarray],
    *,
    active_mass_g: float | None = None,
    title: str = "",
    cell: str = "",
    protocol: str = "",
) -> Figure:
    """The figure `voltage_vs_capacity` writes (for inspection)."""
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
    return fig


# --- technique plots: each has a figure builder (for inspection) and a PNG writer -------------
def _legend(ax: Any, cell: str, protocol: str, **kwargs: Any) -> None:
    title = " — ".join(x for x in (cell, protocol) if x) or None
    ax.legend(title=title, fontsize=8, title_fontsize=8, **kwargs)


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def capacity_and_ce_figure(
    summary: Sequence[CycleSummary], *, cell: str = "", protocol: str = "", title: str = ""
) -> Figure:
    """Discharge (and charge) capacity per cycle on the left axis, Coulombic efficiency right."""
    cycles = [row.cycle for row in summary]
    gravimetric = bool(summary) and summary[0].discharge_mAh_g is not None
    unit = "mAh/g" if gravimetric else "mAh"
    dis = _values([row.discharge_mAh_g if gravimetric else row.discharge_mAh for row in summary])
    ch = _values([row.charge_mAh_g if gravimetric else row.charge_mAh for row in summary])
    ce = [
        100.0 * row.coulombic_efficiency if row.coulombic_efficiency is not None else np.nan
        for row in summary
    ]
    fig, ax = plt.subplots(figsize=(7, 5.2), dpi=110)
    lines = ax.plot(cycles, dis, "o-", ms=3, color="tab:blue", label="discharge capacity")
    lines += ax.plot(
        cycles, ch, "s", ms=3, mfc="none", color="tab:blue", alpha=0.5, label="charge capacity"
    )
    ax.set_xlabel("Cycle / 1")
    ax.set_ylabel(f"Capacity / {unit}")
    right = ax.twinx()
    lines += right.plot(cycles, ce, "^-", ms=3, color="tab:red", label="Coulombic efficiency")
    right.set_ylabel("Coulombic efficiency / %")
    ax.set_title(title or "Capacity and Coulombic efficiency")
    ax.grid(alpha=0.3)
    title_text = " — ".join(x for x in (cell, protocol) if x) or None
    ax.legend(
        lines,
        [str(line.get_label()) for line in lines],
        title=title_text,
        fontsize=8,
        title_fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=3,
    )
    return fig


def capacity_and_ce(summary: Sequence[CycleSummary], path: Path, **labels: str) -> Path:
    return _save(capacity_and_ce_figure(summary, **labels), path)


def rate_capability_figure(
    table: RateTable, *, cell: str = "", protocol: str = "", title: str = ""
) -> Figure:
    """One bar per rate block, mean ± sd, labelled with its C-rate and normalised value."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    x = np.arange(len(table.rows))
    means = [row.mean for row in table.rows]
    sds = [row.sd for row in table.rows]
    bars = ax.bar(
        x,
        means,
        yerr=sds,
        capsize=4,
        color="tab:blue",
        alpha=0.8,
        label="discharge capacity (mean ± sd)",
    )
    for bar, row in zip(bars, table.rows, strict=True):
        ax.annotate(
            f"{100 * row.normalised:.0f} %",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(x, [f"{row.c_rate:g}C" for row in table.rows])
    ax.set_ylim(0, 1.3 * max((m + s for m, s in zip(means, sds, strict=True)), default=1.0))
    ax.set_xlabel("Discharge rate / C")
    ax.set_ylabel(f"Discharge capacity / {table.unit}")
    heading = title or "Rate capability"
    if table.recovery is not None:
        heading += f" (recovery {100 * table.recovery:.1f} %)"
    ax.set_title(heading)
    ax.grid(alpha=0.3, axis="y")
    _legend(ax, cell, protocol, loc="upper right")
    return fig


def rate_capability(table: RateTable, path: Path, **labels: str) -> Path:
    return _save(rate_capability_figure(table, **labels), path)


def gitt_diffusion_figure(
    result: GittResult, *, cell: str = "", protocol: str = "", title: str = ""
) -> Figure:
    """D of every pulse against SOC (or charge passed), valid pulses filled, flagged hollow."""
    pulses = result.pulses
    use_soc = all(p.soc is not None for p in pulses)
    x = np.array([p.soc if use_soc else p.charge_Ah * 1e3 for p in pulses], dtype=float)
    valid = np.array([p.valid for p in pulses])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for key, marker, name in (("D_cm2_s", "o", "ΔEs/ΔEt"), ("D_sqrt_cm2_s", "s", "√t slope")):
        d = np.array([getattr(p, key) for p in pulses], dtype=float)
        ax.semilogy(x[valid], d[valid], marker, ms=4, label=f"D ({name}), valid")
        if (~valid).any():
            ax.semilogy(
                x[~valid], d[~valid], marker, ms=4, mfc="none", label=f"D ({name}), flagged"
            )
    ax.set_xlabel("State of charge / 1" if use_soc else "Charge passed / mAh")
    ax.set_ylabel("D / cm² s⁻¹")
    ax.set_title(
        title or f"GITT diffusion coefficient (L = {result.diffusion_length_cm * 1e4:.3g} µm)"
    )
    ax.grid(alpha=0.3, which="both")
    _legend(ax, cell, protocol, loc="best")
    return fig


def gitt_diffusion(result: GittResult, path: Path, **labels: str) -> Path:
    return _save(gitt_diffusion_figure(result, **labels), path)


def nyquist_figure(
    frequency_Hz: Any,
    z: Any,
    *,
    fit: EisFit | None = None,
    cell: str = "",
    protocol: str = "",
    title: str = "",
) -> Figure:
    """−Im Z against Re Z with equal axes; the fitted circuit as a line when given."""
    z = np.asarray(z, dtype=complex)
    fig, ax = plt.subplots(figsize=(6.5, 5), dpi=110)
    ax.plot(z.real, -z.imag, "o", ms=3, mfc="none", label="measured")
    if fit is not None:
        zf = fit.z_fit()
        label = fit.circuit
        if fit.Rct_ohm is not None:
            label += f", Rct = {fit.Rct_ohm:.3g} ± {fit.Rct_sigma_ohm:.2g} Ω"
        ax.plot(zf.real, -zf.imag, "-", lw=1.4, label=label)
    ax.set_xlabel("Re Z / Ω")
    ax.set_ylabel("−Im Z / Ω")
    ax.set_aspect("equal", adjustable="datalim")
    f = np.asarray(frequency_Hz, dtype=float)
    ax.set_title(title or f"Nyquist plot ({f.max():.3g} Hz – {f.min():.3g} Hz)")
    ax.grid(alpha=0.3)
    _legend(ax, cell, protocol, loc="upper left")
    return fig


def nyquist(
    frequency_Hz: Any, z: Any, path: Path, *, fit: EisFit | None = None, **labels: str
) -> Path:
    return _save(nyquist_figure(frequency_Hz, z, fit=fit, **labels), path)


ARRHENIUS_Y = {"rct": "ln(1/Rct / S)", "sigma": "ln(σ)", "sigmaT": "ln(σ·T / K)"}


def arrhenius_figure(
    result: ArrheniusResult, *, cell: str = "", protocol: str = "", title: str = ""
) -> Figure:
    """The fitted form against 1000/T, with the line and Ea ± its interval."""
    x = 1000.0 * np.asarray(result.inverse_T_per_K)
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    ax.plot(x, result.ln_y, "o", label="measured")
    grid = np.linspace(x.min(), x.max(), 50)
    low, high = result.Ea_ci_kJ_mol
    ax.plot(
        grid,
        result.intercept + result.slope_per_1000_over_T * grid,
        "-",
        label=(
            f"fit: Ea = {result.Ea_kJ_mol:.2f} kJ/mol ({result.Ea_eV:.3f} eV), "
            f"{100 * result.confidence:.0f} % CI {low:.2f}–{high:.2f}"
        ),
    )
    ax.set_xlabel("1000/T / K⁻¹")
    ax.set_ylabel(ARRHENIUS_Y.get(result.form, "ln y"))
    top = ax.secondary_xaxis("top", functions=(_celsius_of_inverse_kK, _inverse_kK_of_celsius))
    top.set_xlabel("Temperature / °C")
    ax.set_title(title or f"Arrhenius ({result.form} form)", pad=28)
    ax.grid(alpha=0.3)
    _legend(ax, cell, protocol, loc="best")
    return fig


def arrhenius_plot(result: ArrheniusResult, path: Path, **labels: str) -> Path:
    return _save(arrhenius_figure(result, **labels), path)


def _values(values: list[float | None]) -> np.ndarray:
    """Missing values as NaN, which matplotlib leaves as gaps."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _celsius_of_inverse_kK(v: Any) -> Any:
    return 1000.0 / v - 273.15


def _inverse_kK_of_celsius(c: Any) -> Any:
    return 1000.0 / (c + 273.15)
