"""Analyses of impedance spectra: the circuit fit with lin-KK, conductivity, Arrhenius."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from protocols.analysis.arrhenius import arrhenius
from protocols.analysis.dispatch.context import RunContext
from protocols.analysis.dispatch.outcome import Outcome
from protocols.analysis.eis import fit_spectrum, kramers_kronig
from protocols.analysis.errors import AnalysisError
from protocols.analysis.techniques import conductivity


def _spectrum_arrays(spectrum: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.asarray(spectrum["frequency_Hz"], dtype=float)
    zr = np.asarray(spectrum["z_real_ohm"], dtype=float)
    zi = np.asarray(spectrum["z_imag_ohm"], dtype=float)
    return f, zr, zi


def run_eis(ctx: RunContext) -> Outcome:
    if "eis" in ctx.cache:
        return ctx.cache["eis"]
    outcome = Outcome("eis_fit")
    if not ctx.spectra:
        outcome.skipped = "the run has no impedance spectra."
        ctx.cache["eis"] = outcome
        return outcome
    circuit = (ctx.meta.get("metadata") or {}).get("circuit")
    fits: list[dict[str, Any] | None] = []  # {"fit": EisFit, "kk": KKResult} per spectrum
    rows: list[dict[str, Any]] = []
    for k, spectrum in enumerate(ctx.spectra):
        f, zr, zi = _spectrum_arrays(spectrum)
        keep = zi < 0  # inductive points (Im Z ≥ 0) carry no RC information
        try:
            fit = fit_spectrum(f[keep], zr[keep], zi[keep], circuit=circuit)
            kk = kramers_kronig(f[keep], zr[keep] + 1j * zi[keep])
        except AnalysisError as exc:
            outcome.notes.append(f"spectrum {k + 1}: {exc.message}")
            fits.append(None)
            continue
        fits.append({"fit": fit, "kk": kk})
        rows.append(
            {
                "spectrum": k + 1,
                "step_count": spectrum.get("step_count"),
                "temperature_degC": spectrum.get("temperature_degC"),
                "Rs_ohm": fit.Rs_ohm,
                "Rct_ohm": fit.Rct_ohm,
                "Rct_sigma_ohm": fit.Rct_sigma_ohm,
                "kk_max_residual": kk.max_residual,
                "kk_accepted": kk.accepted,
                "kk_noise_rel": kk.noise_rel,
                "kk_reasons": list(kk.reasons),
            }
        )
    if not rows:
        outcome.skipped = "no spectrum could be fitted."
        ctx.cache["eis"] = outcome
        return outcome
    outcome.result = fits
    first = next(f for f in fits if f)
    outcome.summary = {"spectra": rows, "circuit": first["fit"].circuit}
    outcome.notes.append(first["fit"].rct_rule)
    ctx.cache["eis"] = outcome
    return outcome


def _by_temperature(rows: list[dict[str, Any]], key: str) -> tuple[list, list, list]:
    """First value at each distinct temperature (to 0.5 K), and the repeats for reversibility."""
    temps: list[float] = []
    values: list[float] = []
    repeats: list[dict[str, Any]] = []
    for row in rows:
        t, value = row.get("temperature_degC"), row.get(key)
        if t is None or value is None or not math.isfinite(t):
            continue
        match = next((i for i, seen in enumerate(temps) if abs(seen - t) <= 0.5), None)
        if match is None:
            temps.append(float(t))
            values.append(float(value))
        else:
            repeats.append(
                {
                    "temperature_degC": float(t),
                    "first": values[match],
                    "again": float(value),
                    "change": float(value) / values[match] - 1.0,
                }
            )
    return temps, values, repeats


def _arrhenius_outcome(
    kind: str, temps: list[float], values: list[float], form: str, repeats: list
) -> Outcome:
    outcome = Outcome(kind)
    if len(temps) < 3:
        outcome.skipped = f"{len(temps)} distinct temperature(s); the Arrhenius fit needs 3."
        return outcome
    fit = arrhenius(temps, values, form=form)  # type: ignore[arg-type]
    outcome.result = fit
    outcome.summary = {
        "form": form,
        "Ea_kJ_mol": fit.Ea_kJ_mol,
        "Ea_eV": fit.Ea_eV,
        "Ea_ci_kJ_mol": list(fit.Ea_ci_kJ_mol),
        "r_squared": fit.r_squared,
        "temperatures_degC": temps,
        "reversibility": repeats,
    }
    outcome.notes.append(fit.description)
    return outcome


def run_arrhenius_rct(ctx: RunContext) -> Outcome:
    eis = run_eis(ctx)
    if not eis.ok:
        return Outcome("arrhenius_rct", skipped=eis.skipped)
    temps, values, repeats = _by_temperature(eis.summary["spectra"], "Rct_ohm")
    return _arrhenius_outcome("arrhenius_rct", temps, values, "rct", repeats)


def electrolyte_geometry(ctx: RunContext) -> tuple[float | None, float | None, str]:
    """(thickness in cm, area in cm², how they were found) of the electrolyte σ = L/(R·A)
    is reckoned for: the cell's electrolyte_thickness_um, else the protocol metadata's
    thickness_um; its electrolyte_area_cm2, else its area_cm2."""
    thickness_um = ctx.number("electrolyte_thickness_um") or (
        float((ctx.meta.get("metadata") or {}).get("thickness_um") or 0) or None
    )
    area = ctx.number("electrolyte_area_cm2") or ctx.number("area_cm2")
    where = (
        f"L = {thickness_um:g} µm, A = {area:g} cm²" if thickness_um and area else "L or A unknown"
    )
    return (thickness_um * 1e-4 if thickness_um else None), area, where


def run_conductivity(ctx: RunContext) -> Outcome:
    if "sigma" in ctx.cache:
        return ctx.cache["sigma"]
    outcome = Outcome("conductivity")
    eis = run_eis(ctx)
    length, area, where = electrolyte_geometry(ctx)
    if not eis.ok:
        outcome.skipped = eis.skipped
    elif length is None or area is None:
        outcome.skipped = (
            "no electrolyte thickness: record electrolyte_thickness_um with the cell or "
            "thickness_um in the protocol metadata."
        )
    else:
        rows = []
        for row in eis.summary["spectra"]:
            if row["Rs_ohm"]:
                sigma = conductivity(row["Rs_ohm"], thickness_cm=length, area_cm2=area)
                rows.append({**row, "sigma_S_cm": sigma, "sigma_mS_cm": sigma * 1e3})
        outcome.result = rows
        outcome.summary = {
            "spectra": [
                {"temperature_degC": r["temperature_degC"], "sigma_mS_cm": r["sigma_mS_cm"]}
                for r in rows
            ]
        }
        outcome.notes.append(
            f"σ = L/(R·A) with R the series (bulk electrolyte) resistance of the fit; {where}."
        )
    ctx.cache["sigma"] = outcome
    return outcome


def run_arrhenius_sigma(ctx: RunContext) -> Outcome:
    sigma = run_conductivity(ctx)
    if not sigma.ok:
        return Outcome("arrhenius_conductivity", skipped=sigma.skipped)
    temps, values, repeats = _by_temperature(sigma.result, "sigma_S_cm")
    outcome = _arrhenius_outcome("arrhenius_conductivity", temps, values, "sigma", repeats)
    return outcome
