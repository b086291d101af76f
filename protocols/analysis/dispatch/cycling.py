"""Analyses of cycling data: cycle summary, rate table, IR drop and GITT."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from protocols.analysis.cycles import CycleSummary, cycle_summary
from protocols.analysis.dispatch.context import RunContext, subset
from protocols.analysis.dispatch.outcome import Outcome
from protocols.analysis.energy_density import VolumetricEnergy, volumetric_energy_density
from protocols.analysis.gitt import analyze_gitt
from protocols.analysis.rate import discharge_c_rates, rate_table
from protocols.analysis.steps import cycle_ir

NCM811_DENSITY_G_CM3 = 4.75
AGING_TYPES = ("aging", "cycling")


def _retention_reference(ctx: RunContext, rows: list[CycleSummary]) -> tuple[int | None, str]:
    """The cycle retention is measured against, and the rule in words."""
    if not rows:
        return None, ""
    have = {r.cycle for r in rows}
    aging = sorted(
        {int(s["cycle"]) for s in ctx.steps if s.get("cycle_type") in AGING_TYPES} & have
    )
    if aging:
        return aging[0], f"cycle {aging[0]}, the first cycle of the ageing block"
    if ctx.one_c_A:
        rates = discharge_c_rates(ctx.samples, ctx.one_c_A)
        ordered = [r.cycle for r in rows if r.cycle in rates]
        if ordered:
            last_rate = rates[ordered[-1]]
            first = ordered[-1]
            for number in reversed(ordered):
                if not math.isclose(rates[number], last_rate, rel_tol=0.05):
                    break
                first = number
            if first != ordered[-1]:
                return first, (
                    f"cycle {first}, the first cycle of the last block at {last_rate:g}C"
                )
    return rows[0].cycle, f"cycle {rows[0].cycle}, the first cycle"


def run_cycles(ctx: RunContext) -> Outcome:
    if "cycles" in ctx.cache:
        return ctx.cache["cycles"]
    outcome = Outcome("cycle_summary")
    if not ctx.has_current() or "cycle" not in ctx.samples:
        outcome.skipped = "the run has no current-carrying samples with cycle numbers."
        ctx.cache["cycles"] = outcome
        return outcome
    mass, area = ctx.active_mass_g, ctx.number("area_cm2")
    rows = cycle_summary(ctx.samples, active_mass_g=mass, area_cm2=area)
    rows = [r for r in rows if r.charge_mAh > 0 or r.discharge_mAh > 0]
    if not rows:
        outcome.skipped = "no cycle passed any charge."
        ctx.cache["cycles"] = outcome
        return outcome
    reference, rule = _retention_reference(ctx, rows)
    if reference is not None and reference != rows[0].cycle:
        rows = cycle_summary(
            ctx.samples, active_mass_g=mass, area_cm2=area, reference_cycle=reference
        )
        rows = [r for r in rows if r.charge_mAh > 0 or r.discharge_mAh > 0]
    unit = "mAh/g" if mass else "mAh"

    def cap(row: CycleSummary, which: str) -> float:
        value = getattr(row, f"{which}_mAh_g") if mass else getattr(row, f"{which}_mAh")
        return float(value)

    first, last = rows[0], rows[-1]
    ref_row = next((r for r in rows if r.cycle == reference), first)
    outcome.result = rows
    outcome.summary = {
        "cycles": len(rows),
        "unit": unit,
        "first_cycle": first.cycle,
        "first_charge": cap(first, "charge"),
        "first_discharge": cap(first, "discharge"),
        "first_cycle_CE": first.coulombic_efficiency,
        "reference_cycle": ref_row.cycle,
        "reference_discharge": cap(ref_row, "discharge"),
        "last_cycle": last.cycle,
        "last_discharge": cap(last, "discharge"),
        "retention": last.retention,
        "cycles_since_reference": last.cycle - ref_row.cycle,
    }
    outcome.notes.append(
        f"CE = Q_dis/Q_ch (cathode charged first); retention = Q_dis(n)/Q_dis({rule})."
    )
    density = _energy_density(ctx, first)
    if density is not None:
        outcome.summary["first_discharge_Wh_L"] = density.Wh_L
        outcome.summary["energy_density_volume"] = density.volume
        outcome.notes.append(
            f"volumetric energy density = cycle {first.cycle}'s measured discharge energy "
            f"({density.energy_Wh * 1e3:.4g} mWh) / {density.volume}."
        )
    ctx.cache["cycles"] = outcome
    return outcome


def _energy_density(ctx: RunContext, row: CycleSummary) -> VolumetricEnergy | None:
    """Wh/L of one cycle's discharge when the cell records its cathode thickness and area."""
    cathode, area = ctx.number("thickness_um"), ctx.number("area_cm2")
    if not (cathode and area) or not row.discharge_Wh > 0:
        return None
    return volumetric_energy_density(
        row.discharge_Wh,
        area_cm2=area,
        cathode_um=cathode,
        separator_um=ctx.number("stack_separator_um") or 0.0,
        anode_um=ctx.number("stack_anode_um") or 0.0,
    )


def run_rate(ctx: RunContext) -> Outcome:
    outcome = Outcome("rate_capability")
    cycles = run_cycles(ctx)
    if not cycles.ok:
        outcome.skipped = cycles.skipped
        return outcome
    if not ctx.one_c_A:
        outcome.skipped = "the cell has no capacity basis, so the C-rate of each cycle is unknown."
        return outcome
    rates = discharge_c_rates(ctx.samples, ctx.one_c_A)
    rate_steps = {int(s["cycle"]) for s in ctx.steps if s.get("cycle_type") == "rate"}
    if rate_steps:
        rates = {c: r for c, r in rates.items() if c in rate_steps}
    table = rate_table(cycles.result, rates)
    outcome.result = table
    outcome.summary = {
        "unit": table.unit,
        "rates": {f"{row.c_rate:g}C": row.mean for row in table.rows},
        "recovery": table.recovery,
        "reference": table.reference,
    }
    outcome.notes.append(
        f"1C = {ctx.one_c_A * 1e3:.4g} mA; each block's mean discharge capacity, normalised to "
        f"{table.reference}."
    )
    return outcome


def diffusion_length_cm(cell: Mapping[str, Any]) -> tuple[float | None, str]:
    """L = V/S for GITT from the cell (see the module docstring), with where it came from."""
    ctx = RunContext({}, [], [], cell, {})
    stated = ctx.number("diffusion_length_um")
    if stated:
        return stated * 1e-4, f"L = {stated:g} µm, as recorded with the cell"
    loading = ctx.number("loading_mg_cm2")
    if loading:
        density = ctx.number("density_g_cm3") or NCM811_DENSITY_G_CM3
        length = loading * 1e-3 / density
        return length, (
            f"L = loading / density = {loading:g} mg/cm² / {density:g} g/cm³ = "
            f"{length * 1e4:.3g} µm (electrode-level: S = geometric area)"
        )
    return None, ""


def run_gitt(ctx: RunContext) -> Outcome:
    outcome = Outcome("gitt")
    length, source = diffusion_length_cm(ctx.cell)
    if length is None:
        outcome.skipped = (
            "no diffusion length: record diffusion_length_um (or loading_mg_cm2) with the cell."
        )
        return outcome
    if not ctx.has_current():
        outcome.skipped = "the run has no current pulses."
        return outcome
    samples: Mapping[str, np.ndarray] = ctx.samples
    trains = ctx.steps_of("PulseTrain")
    if trains:
        counts = {int(s["step_count"]) for s in trains}
        before = {c - 1 for c in counts if any(int(s["step_count"]) == c - 1 for s in ctx.steps)}
        rests = {
            int(s["step_count"])
            for s in ctx.steps
            if int(s["step_count"]) in before and s.get("kind") in ("Rest", "Wait")
        }
        mask = ctx.rows_of_steps(sorted(counts | rests))
        if mask.sum() >= 3:
            samples = subset(ctx.samples, mask)
        # One step holds the whole train, so its step time does not restart at each pulse:
        # each pulse then starts at the sample before it, as a cycler logs it.
        samples = {k: v for k, v in samples.items() if k != "step_time_s"}
    capacity = ctx.capacity_Ah
    initial_soc = 0.0
    if capacity and "charge_capacity_Ah" in samples and len(samples["charge_capacity_Ah"]):
        net = np.nan_to_num(samples["charge_capacity_Ah"]) - np.nan_to_num(
            samples["discharge_capacity_Ah"]
        )
        initial_soc = float(net[0]) / capacity
    result = analyze_gitt(
        samples,
        diffusion_length_cm=length,
        capacity_Ah=capacity,
        initial_soc=initial_soc,
    )
    valid = result.valid_pulses
    d_values = np.array([p.D_cm2_s for p in valid])
    outcome.result = result
    outcome.summary = {
        "pulses": len(result.pulses),
        "valid_pulses": len(valid),
        "D_cm2_s_median": float(np.median(d_values)) if valid else None,
        "D_sqrt_cm2_s_median": float(np.median([p.D_sqrt_cm2_s for p in valid])) if valid else None,
        "model_valid_pulses": len(result.model_valid_pulses),
        "D_model_cm2_s_median": (
            float(np.median([p.D_model_cm2_s for p in result.model_valid_pulses]))
            if result.model_valid_pulses
            else None
        ),
        "wh_bias_median": float(np.median([p.wh_bias for p in valid])) if valid else None,
        "D_cm2_s_min": float(d_values.min()) if valid else None,
        "D_cm2_s_max": float(d_values.max()) if valid else None,
        "diffusion_length_um": length * 1e4,
        "convention": result.convention,
    }
    outcome.notes += [source, result.convention, result.criteria]
    if capacity:
        outcome.notes.append(
            f"SOC = {initial_soc:.3f} + net charge / {capacity * 1e3:.4g} mAh, counted from a "
            "discharged cell at the start of the run."
        )
    return outcome


def run_ir(ctx: RunContext) -> Outcome:
    outcome = Outcome("ir_drop")
    if not ctx.has_current():
        outcome.skipped = "the run has no current switches."
        return outcome
    per_cycle = cycle_ir(ctx.samples, kind="discharge onset")
    outcome.result = per_cycle
    values = list(per_cycle.values())
    outcome.summary = {
        "cycles": len(values),
        "first_ohm": values[0] if values else None,
        "last_ohm": values[-1] if values else None,
    }
    outcome.notes.append("R_DC at each cycle's discharge onset, first sample after the switch.")
    return outcome
