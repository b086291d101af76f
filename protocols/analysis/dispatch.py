"""Run the analyses a protocol names (or those the data calls for) on one run's data.

`analyze_run` is pure: it takes the run's sample columns, spectra and step records, the cell
and the protocol's metadata, and never touches a store. Each analysis becomes one `Outcome`
with the full result (`result.as_dict()`), a short `summary` of its headline numbers, and
notes saying which conventions were used. An analysis that cannot run on this data (no
spectra for an EIS fit, no diffusion length for GITT) is skipped with one sentence saying why.

Where the inputs live:

- `cell` is a mapping with the stored cell's fields (`name`, `active_mass_g`, `area_cm2`,
  `loading_mg_cm2`, `specific_capacity_mAh_g` — the 1C basis —, `nominal_capacity_mAh`) and
  its `extra` mapping. The GITT diffusion length L = V/S lives in
  ``cell["extra"]["diffusion_length_um"]``; without it, L is the active loading over the
  material density, ``loading_mg_cm2 / density_g_cm3`` (electrode-level geometry, S the
  geometric area), with ``extra["density_g_cm3"]`` defaulting to NCM811's 4.75 g/cm³. The
  usable capacity for the SOC axis is ``extra["capacity_mAh_g"]`` (else the 1C basis).
  An electrolyte's thickness for σ = L/(R·A) is ``extra["electrolyte_thickness_um"]`` or the
  protocol metadata's ``thickness_um``. The cycle summary's volumetric energy density divides
  the first discharge energy by the area times ``extra["thickness_um"]`` (the cathode layer)
  plus ``extra["stack_separator_um"]`` and ``extra["stack_anode_um"]`` when recorded.
- `protocol_meta` carries the protocol's `name`, its `metadata` mapping (e.g. an EIS
  `circuit`), and `one_c_A` (the 1C current the run used, when known).
- `steps` are the run's step records as mappings (`step_count`, `step_index`, `kind`,
  `label`, `cycle`, `end_reason`, optionally `cycle_type` from the bound protocol).
- `spectra` are mappings with `frequency_Hz`, `z_real_ohm`, `z_imag_ohm` (negative for a
  capacitive cell), `temperature_degC` and `step_count`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.analysis.arrhenius import arrhenius
from protocols.analysis.cycles import CycleSummary, cycle_summary
from protocols.analysis.eis import fit_spectrum, kramers_kronig
from protocols.analysis.energy_density import VolumetricEnergy, volumetric_energy_density
from protocols.analysis.errors import AnalysisError
from protocols.analysis.gitt import analyze_gitt
from protocols.analysis.rate import discharge_c_rates, rate_table
from protocols.analysis.steps import cycle_ir
from protocols.analysis.techniques import (
    bruce_vincent,
    conductivity,
    cv_peaks,
    dc_polarisation,
    initial_current,
    lsv_onset,
    steady_state_current,
    symmetric_overpotential,
)
from protocols.basis import capacity_basis

NCM811_DENSITY_G_CM3 = 4.75
AGING_TYPES = ("aging", "cycling")

# Names protocols use → the analysis that runs.
ALIASES = {
    "cycle_summary": "cycle_summary",
    "cycles": "cycle_summary",
    "rate_table": "rate_capability",
    "rate_capability": "rate_capability",
    "gitt": "gitt",
    "gitt_weppner_huggins": "gitt",
    "eis_fit": "eis_fit",
    "arrhenius_rct": "arrhenius_rct",
    "conductivity": "conductivity",
    "arrhenius_conductivity": "arrhenius_conductivity",
    "arrhenius_sigma": "arrhenius_conductivity",
    "dc_polarisation": "dc_polarisation",
    "dc_polarization": "dc_polarisation",
    "tortuosity": "dc_polarisation",
    "bruce_vincent": "bruce_vincent",
    "transference_number": "bruce_vincent",
    "li_li_overpotential": "li_li_overpotential",
    "symmetric_overpotential": "li_li_overpotential",
    "cv_peaks": "cv_peaks",
    "lsv_window": "lsv_window",
    "window_onset": "lsv_window",
    "lsv_onset": "lsv_window",
    "ir_drop": "ir_drop",
}
KNOWN = tuple(dict.fromkeys(ALIASES.values()))


@dataclass
class Outcome:
    """One analysis: its full result, its headline numbers, or why it was skipped."""

    kind: str
    result: Any = None  # the analysis's own result object(s)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "notes": list(self.notes),
            "skipped": self.skipped,
            "result": _as_data(self.result),
        }


@dataclass
class Report:
    """Every analysis run on one run's data, in the order asked (or inferred)."""

    outcomes: dict[str, Outcome]
    requested: tuple[str, ...]
    inferred: bool
    cell: str = ""
    protocol: str = ""

    def get(self, kind: str) -> Outcome | None:
        outcome = self.outcomes.get(ALIASES.get(kind, kind))
        return outcome if outcome and outcome.ok else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "protocol": self.protocol,
            "requested": list(self.requested),
            "inferred": self.inferred,
            "analyses": {k: o.as_dict() for k, o in self.outcomes.items()},
        }


def _as_data(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {str(k): _as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- context shared by the analyses ----------------------------------------------------------
@dataclass
class _Context:
    samples: Mapping[str, np.ndarray]
    spectra: list[Mapping[str, Any]]
    steps: list[Mapping[str, Any]]
    cell: Mapping[str, Any]
    meta: Mapping[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.cell.get("extra") or {}

    def number(self, key: str) -> float | None:
        """A positive number from the cell (or its extra), else None."""
        for source in (self.cell, self.extra):
            value = source.get(key)
            if isinstance(value, int | float) and math.isfinite(value) and value > 0:
                return float(value)
        return None

    @property
    def active_mass_g(self) -> float | None:
        mass = self.number("active_mass_g")
        if mass is None and self.number("loading_mg_cm2") and self.number("area_cm2"):
            mass = self.number("loading_mg_cm2") * self.number("area_cm2") / 1000.0  # type: ignore[operator]
        return mass

    @property
    def one_c_A(self) -> float | None:
        value = self.meta.get("one_c_A")
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
        basis = capacity_basis(
            active_mass_g=self.active_mass_g,
            specific_capacity_mAh_g=self.number("specific_capacity_mAh_g"),
            area_cm2=self.number("area_cm2"),
            areal_capacity_mAh_cm2=self.number("areal_capacity_mAh_cm2"),
            nominal_capacity_mAh=self.number("nominal_capacity_mAh"),
        )
        return basis.one_c_A if basis else None

    @property
    def capacity_Ah(self) -> float | None:
        """Usable capacity for the SOC axis: extra capacity_mAh_g × mass, else the 1C basis."""
        mass, usable = self.active_mass_g, self.number("capacity_mAh_g")
        if mass and usable:
            return mass * usable / 1000.0
        return self.one_c_A

    def has_current(self) -> bool:
        current = self.samples.get("current_A")
        return current is not None and len(current) > 1 and bool(np.nanmax(np.abs(current)) > 0)

    def steps_of(self, *kinds: str) -> list[Mapping[str, Any]]:
        return [s for s in self.steps if s.get("kind") in kinds]

    def rows_of_steps(self, step_counts: Sequence[int]) -> np.ndarray:
        counts = np.asarray(self.samples.get("step_count", []))
        return np.isin(counts, np.asarray(list(step_counts), dtype=counts.dtype))


def _subset(samples: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[mask] for k, v in samples.items() if len(v) == len(mask)}


# --- the analyses ----------------------------------------------------------------------------
def _retention_reference(ctx: _Context, rows: list[CycleSummary]) -> tuple[int | None, str]:
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


def _cycles(ctx: _Context) -> Outcome:
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


def _energy_density(ctx: _Context, row: CycleSummary) -> VolumetricEnergy | None:
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


def _rate(ctx: _Context) -> Outcome:
    outcome = Outcome("rate_capability")
    cycles = _cycles(ctx)
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
    ctx = _Context({}, [], [], cell, {})
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


def _gitt(ctx: _Context) -> Outcome:
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
            samples = _subset(ctx.samples, mask)
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


def _spectrum_arrays(spectrum: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.asarray(spectrum["frequency_Hz"], dtype=float)
    zr = np.asarray(spectrum["z_real_ohm"], dtype=float)
    zi = np.asarray(spectrum["z_imag_ohm"], dtype=float)
    return f, zr, zi


def _eis(ctx: _Context) -> Outcome:
    if "eis" in ctx.cache:
        return ctx.cache["eis"]
    outcome = Outcome("eis_fit")
    if not ctx.spectra:
        outcome.skipped = "the run has no impedance spectra."
        ctx.cache["eis"] = outcome
        return outcome
    circuit = (ctx.meta.get("metadata") or {}).get("circuit")
    fits, rows = [], []
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
            }
        )
    if not rows:
        outcome.skipped = "no spectrum could be fitted."
        ctx.cache["eis"] = outcome
        return outcome
    outcome.result = fits
    outcome.summary = {"spectra": rows, "circuit": next(f for f in fits if f)["fit"].circuit}
    outcome.notes.append(next(f for f in fits if f)["fit"].rct_rule)
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


def _arrhenius_rct(ctx: _Context) -> Outcome:
    eis = _eis(ctx)
    if not eis.ok:
        return Outcome("arrhenius_rct", skipped=eis.skipped)
    temps, values, repeats = _by_temperature(eis.summary["spectra"], "Rct_ohm")
    return _arrhenius_outcome("arrhenius_rct", temps, values, "rct", repeats)


def _electrolyte_geometry(ctx: _Context) -> tuple[float | None, float | None, str]:
    thickness_um = ctx.number("electrolyte_thickness_um") or (
        float((ctx.meta.get("metadata") or {}).get("thickness_um") or 0) or None
    )
    area = ctx.number("electrolyte_area_cm2") or ctx.number("area_cm2")
    where = (
        f"L = {thickness_um:g} µm, A = {area:g} cm²" if thickness_um and area else "L or A unknown"
    )
    return (thickness_um * 1e-4 if thickness_um else None), area, where


def _conductivity(ctx: _Context) -> Outcome:
    if "sigma" in ctx.cache:
        return ctx.cache["sigma"]
    outcome = Outcome("conductivity")
    eis = _eis(ctx)
    length, area, where = _electrolyte_geometry(ctx)
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


def _arrhenius_sigma(ctx: _Context) -> Outcome:
    sigma = _conductivity(ctx)
    if not sigma.ok:
        return Outcome("arrhenius_conductivity", skipped=sigma.skipped)
    temps, values, repeats = _by_temperature(sigma.result, "sigma_S_cm")
    outcome = _arrhenius_outcome("arrhenius_conductivity", temps, values, "sigma", repeats)
    return outcome


def _holds(ctx: _Context) -> list[tuple[Mapping[str, Any], dict[str, np.ndarray]]]:
    holds = []
    for step in ctx.steps_of("ConstantVoltage"):
        mask = ctx.rows_of_steps([int(step["step_count"])])
        if mask.sum() >= 4:
            holds.append((step, _subset(ctx.samples, mask)))
    return holds


def _dc_polarisation(ctx: _Context) -> Outcome:
    outcome = Outcome("dc_polarisation")
    holds = _holds(ctx)
    length = ctx.number("thickness_um")
    area = ctx.number("area_cm2")
    if not holds:
        outcome.skipped = "the run has no potentiostatic holds."
        return outcome
    if not (length and area):
        outcome.skipped = "the cell has no thickness_um and area_cm2 for σ = L/(R·A)."
        return outcome
    steps_v, currents = [], []
    for _, data in holds:
        steady = steady_state_current(data["test_time_s"], data["current_A"])
        steps_v.append(float(np.median(data["voltage_V"])))
        currents.append(steady.current_A)
    result = dc_polarisation(steps_v, currents, thickness_cm=length * 1e-4, area_cm2=area)
    outcome.result = result
    outcome.summary = {
        "resistance_ohm": result.resistance_ohm,
        "conductivity_S_cm": result.conductivity_S_cm,
        "holds": len(holds),
    }
    return outcome


def _bruce_vincent(ctx: _Context) -> Outcome:
    outcome = Outcome("bruce_vincent")
    holds = _holds(ctx)
    eis = _eis(ctx)
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


def _li_li(ctx: _Context) -> Outcome:
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


def _sweep_samples(ctx: _Context) -> Mapping[str, np.ndarray]:
    sweeps = ctx.steps_of("Sweep")
    if sweeps:
        mask = ctx.rows_of_steps([int(s["step_count"]) for s in sweeps])
        if mask.sum() >= 10:
            return _subset(ctx.samples, mask)
    return ctx.samples


def _cv(ctx: _Context) -> Outcome:
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


def _lsv(ctx: _Context) -> Outcome:
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


def _ir(ctx: _Context) -> Outcome:
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


ANALYSES: dict[str, Callable[[_Context], Outcome]] = {
    "cycle_summary": _cycles,
    "rate_capability": _rate,
    "gitt": _gitt,
    "eis_fit": _eis,
    "arrhenius_rct": _arrhenius_rct,
    "conductivity": _conductivity,
    "arrhenius_conductivity": _arrhenius_sigma,
    "dc_polarisation": _dc_polarisation,
    "bruce_vincent": _bruce_vincent,
    "li_li_overpotential": _li_li,
    "cv_peaks": _cv,
    "lsv_window": _lsv,
    "ir_drop": _ir,
}


# --- inference for data without a protocol (an imported file) ---------------------------------
def _looks_like_gitt(samples: Mapping[str, np.ndarray]) -> bool:
    """Several short current pulses, each followed by a much longer rest."""
    current = np.nan_to_num(np.asarray(samples.get("current_A", []), dtype=float))
    time = np.asarray(samples.get("test_time_s", []), dtype=float)
    if current.size < 10 or not np.any(current):
        return False
    on = np.abs(current) > 0.05 * np.max(np.abs(current))
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if starts.size < 3:
        return False
    pulse = np.median(time[ends] - time[starts])
    gaps = time[starts[1:]] - time[ends[:-1]]
    return bool(pulse > 0 and np.median(gaps) > 4 * pulse)


def infer_analyses(
    samples: Mapping[str, np.ndarray], spectra: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The analyses data without a protocol calls for."""
    found: list[str] = []
    if spectra:
        found.append("eis_fit")
        temps = [s.get("temperature_degC") for s in spectra]
        distinct = {round(float(t) * 2) / 2 for t in temps if t is not None and math.isfinite(t)}
        if len(distinct) >= 3:
            found.append("arrhenius_rct")
    current = samples.get("current_A")
    if current is not None and len(current) > 1 and np.nanmax(np.abs(current)) > 0:
        if _looks_like_gitt(samples):
            found.append("gitt")
        else:
            found.append("cycle_summary")
            found.append("ir_drop")
    return found


def analyze_run(
    samples: Mapping[str, Any],
    spectra: Sequence[Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]],
    *,
    cell: Mapping[str, Any],
    protocol_meta: Mapping[str, Any],
    analyses: Sequence[str] | None,
) -> Report:
    """Run the named analyses (or those the data calls for when `analyses` is None/empty).

    Unknown names are an AnalysisError listing the known ones. An analysis that cannot run
    on this data is kept in the report as skipped, with the reason.
    """
    columns = {k: np.asarray(v) for k, v in samples.items()}
    inferred = not analyses
    names = list(analyses) if analyses else infer_analyses(columns, spectra)
    unknown = [n for n in names if n not in ALIASES]
    if unknown:
        raise AnalysisError(
            "analysis",
            "analyses",
            f"{unknown[0]!r} is not a known analysis; known: {', '.join(sorted(ALIASES))}.",
        )
    ctx = _Context(columns, list(spectra), list(steps), cell, protocol_meta)
    outcomes: dict[str, Outcome] = {}
    for name in dict.fromkeys(ALIASES[n] for n in names):
        try:
            outcomes[name] = ANALYSES[name](ctx)
        except AnalysisError as exc:
            outcomes[name] = Outcome(name, skipped=f"{exc.where}: {exc.message}")
    for key in ("cycles", "eis", "sigma"):  # what other analyses were built on, if not asked
        built = ctx.cache.get(key)
        if built is not None and built.kind not in outcomes:
            outcomes[built.kind] = built
    return Report(
        outcomes,
        tuple(names),
        inferred,
        cell=str(cell.get("name") or ""),
        protocol=str(protocol_meta.get("name") or ""),
    )
