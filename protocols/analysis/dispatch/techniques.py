"""Analyses of the supporting techniques: DC polarisation, Bruce–Vincent, Li‖Li, CV, LSV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from protocols.analysis.dispatch.context import RunContext, subset
from protocols.analysis.dispatch.impedance import electrolyte_geometry, run_eis
from protocols.analysis.dispatch.outcome import Outcome
from protocols.analysis.techniques import (
    bruce_vincent,
    cv_peaks,
    dc_polarisation,
    initial_current,
    lsv_onset,
    steady_state_current,
    symmetric_overpotential,
)


def _holds(ctx: RunContext) -> list[tuple[Mapping[str, Any], dict[str, np.ndarray]]]:
    holds = []
    for step in ctx.steps_of("ConstantVoltage"):
        mask = ctx.rows_of_steps([int(step["step_count"])])
        if mask.sum() >= 4:
            holds.append((step, subset(ctx.samples, mask)))
    return holds


def run_dc_polarisation(ctx: RunContext) -> Outcome:
    outcome = Outcome("dc_polarisation")
    holds = _holds(ctx)
    length_cm, area, _ = electrolyte_geometry(ctx)
    if not holds:
        outcome.skipped = "the run has no potentiostatic holds."
        return outcome
    if not (length_cm and area):
        outcome.skipped = (
            "no electrolyte thickness and area for σ = L/(R·A): record electrolyte_thickness_um "
            "and electrolyte_area_cm2 (or area_cm2) with the cell, or thickness_um in the "
            "protocol metadata."
        )
        return outcome
    steps_v, currents = [], []
    for _, data in holds:
        steady = steady_state_current(data["test_time_s"], data["current_A"])
        steps_v.append(float(np.median(data["voltage_V"])))
        currents.append(steady.current_A)
    result = dc_polarisation(steps_v, currents, thickness_cm=length_cm, area_cm2=area)
    outcome.result = result
    outcome.summary = {
        "resistance_ohm": result.resistance_ohm,
        "conductivity_S_cm": result.conductivity_S_cm,
        "holds": len(holds),
    }
    return outcome


def run_bruce_vincent(ctx: RunContext) -> Outcome:
    outcome = Outcome("bruce_vincent")
    holds = _holds(ctx)
    eis = run_eis(ctx)
    if not holds or not eis.ok or len([f for f in eis.result if f]) < 2:
        outcome.skipped = "Bruce–Vincent needs a potentiostatic hold between two spectra."
        return outcome
    step, data = holds[0]
    current, time = data["current_A"], data["test_time_s"]
    step_time = data.get("step_time_s", time - time[0])
    start = initial_current(step_time, current)
    # The spectrum after the hold measures the interface as the hold left it, so I_ss is the
    # current at the end of the hold, not an average over a long tail.
    steady = steady_state_current(time, current, tail_fraction=0.02)
    i0, iss = abs(start.current_A), abs(steady.current_A)
    hold_count = int(step["step_count"])
    counted = [
        (spectrum.get("step_count"), fit)
        for spectrum, fit in zip(ctx.spectra, eis.result, strict=True)
        if fit
    ]
    before = [f for n, f in counted if n is not None and n < hold_count]
    after = [f for n, f in counted if n is not None and n > hold_count]
    first = before[-1] if before else counted[0][1]
    last = after[0] if after else counted[-1][1]

    def interfacial(fit: Any) -> float:
        return float(sum(arc.R_ohm for arc in fit["fit"].arcs))

    delta_v = float(np.median(data["voltage_V"]))
    r0, rss = interfacial(first), interfacial(last)
    result = bruce_vincent(delta_V=delta_v, I0_A=i0, Iss_A=iss, R0_ohm=r0, Rss_ohm=rss)
    rs0 = first["fit"].Rs_ohm
    i0_eis = abs(delta_v) / (rs0 + r0) if rs0 is not None else None
    outcome.result = result
    outcome.summary = {
        "t_plus": result.t_plus,
        "I0_A": i0,
        "Iss_A": iss,
        "R0_ohm": r0,
        "Rss_ohm": rss,
        "I0_from_eis_A": i0_eis,
        "steady": steady.settled,
    }
    outcome.notes += [
        result.note,
        f"{start.rule}; I_ss = the mean of the hold's last 2 %; R0 and R_ss = the arcs of the "
        "spectra just before and just after the hold",
    ]
    if i0_eis is not None and abs(i0 / i0_eis - 1.0) > 0.05:
        outcome.notes.append(
            f"I0 from the hold ({i0:.4g} A) and ΔV/(R_s + R0) from the first spectrum "
            f"({i0_eis:.4g} A) differ by more than 5 %: check the hold's first samples."
        )
    if not steady.settled:
        outcome.notes.append("the current was still changing at the end of the hold.")
    return outcome


def run_li_li(ctx: RunContext) -> Outcome:
    outcome = Outcome("li_li_overpotential")
    area = ctx.number("area_cm2")
    if not area or not ctx.has_current():
        outcome.skipped = "Li‖Li analysis needs current-carrying samples and the cell area."
        return outcome
    result = symmetric_overpotential(ctx.samples, area_cm2=area)
    halves = result.half_cycles
    outcome.result = result
    outcome.summary = {
        "half_cycles": len(halves),
        "first_mean_abs_V": halves[0].mean_abs_V if halves else None,
        "last_mean_abs_V": halves[-1].mean_abs_V if halves else None,
        "short_at_s": result.short_at_s,
        "cycled_h": _hours(result.cycled_s),
        "stable_h": _hours(result.stable_s),
        "steady_mean_abs_V": result.steady_mean_abs_V,
        "settled_after_h": _hours(result.settled_after_s),
        "peak_mean_abs_V": result.peak_mean_abs_V,
        "peak_after_h": _hours(result.peak_after_s),
    }
    outcome.notes += [result.short_rule, result.settle_rule]
    return outcome


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0


def _sweep_samples(ctx: RunContext) -> Mapping[str, np.ndarray]:
    sweeps = ctx.steps_of("Sweep")
    if sweeps:
        mask = ctx.rows_of_steps([int(s["step_count"]) for s in sweeps])
        if mask.sum() >= 10:
            return subset(ctx.samples, mask)
    return ctx.samples


def run_cv(ctx: RunContext) -> Outcome:
    outcome = Outcome("cv_peaks")
    data = _sweep_samples(ctx)
    result = cv_peaks(data["voltage_V"], data["current_A"])
    outcome.result = list(result)
    outcome.summary = {
        "cycles": len(result),
        "E_pa_V": result[-1].E_pa_V,
        "E_pc_V": result[-1].E_pc_V,
        "delta_Ep_V": result[-1].delta_Ep_V,
    }
    return outcome


def run_lsv(ctx: RunContext) -> Outcome:
    outcome = Outcome("lsv_window")
    area = ctx.number("area_cm2")
    if not area:
        outcome.skipped = "the LSV onset needs the electrode area for the current density."
        return outcome
    data = _sweep_samples(ctx)
    result = lsv_onset(data["voltage_V"], data["current_A"], area_cm2=area)
    outcome.result = result
    outcome.summary = {"onset_V": result.onset_V, "threshold_mA_cm2": result.threshold_mA_cm2}
    return outcome
