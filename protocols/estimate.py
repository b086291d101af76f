"""How long a plan takes and what bench it needs, before anything runs.

Each step gets a guaranteed upper bound when one exists (a step-time limit, a finite EIS
sweep, a voltage sweep) and a typical duration (a C-rate step to a voltage cut-off takes
about 1/C hours over a full window). Steps with neither are listed as unbounded, so
the technician knows which part of the estimate is a guess.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from protocols import steps as P
from protocols.plan import Plan
from protocols.units import format_duration

CV_TYPICAL_S = 1800.0  # a CV tail to C/20–C/50 takes tens of minutes
CHAMBER_RAMP_K_MIN = 2.0  # when a set_temperature gives no ramp
PRESSURE_SETTLE_S = 60.0


@dataclass
class StepTime:
    index: int
    label: str
    typical_s: float | None
    max_s: float | None  # None: no guaranteed bound
    passes: int | None  # None: inside a loop that ends only on a limit
    note: str = ""


@dataclass
class Resources:
    """What a slot must offer to run the plan."""

    eis: bool = False
    eis_modes: list[str] = field(default_factory=list)
    eis_f_max_Hz: float | None = None
    eis_f_min_Hz: float | None = None
    chamber: bool = False
    temperatures_degC: list[float] = field(default_factory=list)
    pressure_rig: bool = False
    pressures_Pa: list[float] = field(default_factory=list)
    max_abs_current_A: float | None = None
    max_c_rate: float | None = None
    voltage_min_V: float | None = None
    voltage_max_V: float | None = None
    techniques: list[str] = field(default_factory=list)
    currents_unresolved: bool = False


@dataclass
class Estimate:
    typical_s: float
    min_s: float
    max_s: float | None  # None when any step or loop is unbounded
    unbounded: list[str]
    steps: list[StepTime]
    resources: Resources

    def to_dict(self) -> dict[str, Any]:
        r = self.resources
        return {
            "typical_s": self.typical_s,
            "typical": format_duration(self.typical_s),
            "min_s": self.min_s,
            "max_s": self.max_s,
            "max": format_duration(self.max_s),
            "unbounded": self.unbounded,
            "resources": {
                "eis": r.eis,
                "eis_modes": r.eis_modes,
                "eis_f_max_Hz": r.eis_f_max_Hz,
                "eis_f_min_Hz": r.eis_f_min_Hz,
                "chamber": r.chamber,
                "temperatures_degC": r.temperatures_degC,
                "pressure_rig": r.pressure_rig,
                "pressures_Pa": r.pressures_Pa,
                "max_abs_current_A": r.max_abs_current_A,
                "max_c_rate": r.max_c_rate,
                "voltage_min_V": r.voltage_min_V,
                "voltage_max_V": r.voltage_max_V,
                "techniques": r.techniques,
                "currents_unresolved": r.currents_unresolved,
            },
            "steps": [
                {
                    "index": s.index,
                    "label": s.label,
                    "typical_s": s.typical_s,
                    "max_s": s.max_s,
                    "passes": s.passes,
                    "note": s.note,
                }
                for s in self.steps
            ],
        }


def eis_seconds(step: P.Impedance) -> float:
    """Σ over the frequency points of (averages + 0.1 wait) periods, plus 2 s per point."""
    hi, lo = max(step.f_start_Hz, step.f_end_Hz), min(step.f_start_Hz, step.f_end_Hz)
    n = max(2, round(math.log10(hi / lo) * step.points_per_decade) + 1)
    total = 0.0
    for i in range(n):
        f = hi * (lo / hi) ** (i / (n - 1))
        total += (step.averages + 0.1) / f + 2.0
    return total


def sweep_seconds(step: P.Sweep, plan: Plan | None = None) -> float | None:
    """Path length over scan rate; from OCV the first leg is bounded by the safety window."""
    points = (
        [step.start_V, *step.vertices_V, step.end_V]
        if not step.start_at_ocv
        else list(step.vertices_V)
    )
    if step.start_at_ocv and not step.vertices_V:
        low = plan.safety.voltage_min_V if plan else None
        high = plan.safety.voltage_max_V if plan else None
        if low is None or high is None:
            return None
        return max(abs(step.end_V - low), abs(step.end_V - high)) / step.scan_rate_V_s
    path = sum(abs(b - a) for a, b in itertools.pairwise(points))
    if step.vertices_V:
        loop = [*step.vertices_V, step.vertices_V[0]]
        per_cycle = sum(abs(b - a) for a, b in itertools.pairwise(loop))
        if step.start_at_ocv:
            path = per_cycle * step.n_cycles
        else:
            path = path + per_cycle * (step.n_cycles - 1)
    return path / step.scan_rate_V_s


def _rate(step: P.Step, plan: Plan) -> float | None:
    c = getattr(step, "c_rate", None)
    if c:
        return abs(c)
    amps = getattr(step, "current_A", None) or getattr(step, "pulse_current_A", None)
    if amps and plan.basis and math.isfinite(amps):
        return abs(amps) / plan.basis.one_c_A
    return None


def step_time(step: P.Step, plan: Plan) -> tuple[float | None, float | None, str]:
    """(typical, guaranteed max, note) for one pass of one step."""
    cap = min(
        (lim.value for lim in step.limits if lim.quantity == "step_time" and lim.op in (">", ">=")),
        default=None,
    )
    others = [lim for lim in step.limits if lim.quantity != "step_time" and lim.action != "abort"]
    if isinstance(step, P.AdvanceCycle):
        return 0.0, 0.0, ""
    if isinstance(step, P.Impedance):
        t = eis_seconds(step)
        return t, t * 1.5, ""
    if isinstance(step, P.Sweep):
        sweep_s = sweep_seconds(step, plan)
        if sweep_s is None:
            return None, cap, "linear sweep from OCV: the start voltage is unknown"
        return sweep_s, sweep_s, ""
    if isinstance(step, P.PulseTrain):
        per = step.pulse_s + step.relax_s
        full = per * step.n_pulses
        rate = _rate(step, plan)
        typical = full
        if rate:
            needed = math.ceil(3600.0 / (rate * step.pulse_s))
            typical = per * min(step.n_pulses, needed)
        return typical, full if cap is None else min(full, cap), ""
    if isinstance(step, P.SetTemperature):
        ramp = step.ramp_K_per_min or CHAMBER_RAMP_K_MIN
        typical = 40.0 / ramp * 60.0 * 0.5 + max(step.stable_for_s, step.soak_s)
        return (
            typical,
            step.timeout_s,
            "" if step.timeout_s else "waits until the chamber is stable (no timeout)",
        )
    if isinstance(step, P.SetPressure):
        typical = PRESSURE_SETTLE_S + step.settle_s
        return (
            typical,
            step.timeout_s,
            "" if step.timeout_s else "waits until the pressure settles (no timeout)",
        )
    if cap is not None:
        if not others:
            return cap, cap, ""
        typical = cap
        if isinstance(step, P.ConstantCurrent | P.ConstantCurrentConstantVoltage):
            rate = _rate(step, plan)
            if rate:
                typical = min(
                    cap,
                    3600.0 / rate
                    + (CV_TYPICAL_S if isinstance(step, P.ConstantCurrentConstantVoltage) else 0),
                )
        elif isinstance(step, P.ConstantVoltage):
            typical = min(cap, CV_TYPICAL_S)
        return typical, cap, ""
    if isinstance(step, P.ConstantCurrent | P.ConstantCurrentConstantVoltage):
        rate = _rate(step, plan)
        extra = CV_TYPICAL_S if isinstance(step, P.ConstantCurrentConstantVoltage) else 0.0
        if rate:
            return (
                3600.0 / rate + extra,
                None,
                "ends on a limit; typical is one full window at its C-rate",
            )
        return None, None, "ends on a limit; its length depends on the cell"
    if isinstance(step, P.ConstantVoltage):
        return CV_TYPICAL_S, None, "ends on a limit (typical CV tail assumed)"
    return None, None, "ends on a limit with no time cap"


def _passes(plan: Plan) -> list[int | None]:
    out: list[int | None] = []
    for i in range(len(plan.steps)):
        n: int | None = 1
        for span in plan.loops:
            if span.contains(i):
                n = None if (n is None or span.count is None) else n * span.count
        out.append(n)
    return out


def resources(plan: Plan) -> Resources:
    r = Resources()
    kinds: set[str] = set()
    volts: list[float] = []
    for lim_v in (plan.safety.voltage_min_V, plan.safety.voltage_max_V):
        if lim_v is not None:
            volts.append(lim_v)
    currents: list[float] = []
    rates: list[float] = []
    for step in plan.steps:
        if isinstance(step, P.Rest | P.Wait):
            kinds.add("ocv")
        elif isinstance(step, P.ConstantCurrent):
            kinds.add("cc")
        elif isinstance(step, P.ConstantVoltage):
            kinds.add("cv")
            volts.append(step.voltage_V)
        elif isinstance(step, P.ConstantCurrentConstantVoltage):
            kinds.update(("cc", "cv"))
            volts.append(step.voltage_V)
        elif isinstance(step, P.ConstantPower):
            kinds.add("cp")
        elif isinstance(step, P.PulseTrain):
            kinds.update(("cc", "ocv", "pulse"))
        elif isinstance(step, P.Impedance):
            r.eis = True
            mode = "PEIS" if step.mode == "potentiostatic" else "GEIS"
            if mode not in r.eis_modes:
                r.eis_modes.append(mode)
            kinds.add(mode.lower())
            fmax, fmin = max(step.f_start_Hz, step.f_end_Hz), min(step.f_start_Hz, step.f_end_Hz)
            r.eis_f_max_Hz = fmax if r.eis_f_max_Hz is None else max(r.eis_f_max_Hz, fmax)
            r.eis_f_min_Hz = fmin if r.eis_f_min_Hz is None else min(r.eis_f_min_Hz, fmin)
        elif isinstance(step, P.Sweep):
            kinds.add("sweep")
            volts.extend(step.vertices_V)
            volts.append(step.end_V)
            if not step.start_at_ocv:
                volts.append(step.start_V)
        elif isinstance(step, P.SetTemperature):
            r.chamber = True
            if step.target_degC not in r.temperatures_degC:
                r.temperatures_degC.append(step.target_degC)
        elif isinstance(step, P.SetPressure):
            r.pressure_rig = True
            if step.target_Pa not in r.pressures_Pa:
                r.pressures_Pa.append(step.target_Pa)
        amps = getattr(step, "current_A", None)
        if amps is None:
            amps = getattr(step, "pulse_current_A", None)
        if amps is not None:
            if math.isfinite(amps):
                currents.append(abs(amps))
            else:
                r.currents_unresolved = True
        c = getattr(step, "c_rate", None)
        if c is not None:
            rates.append(abs(c))
        for lim in step.limits:
            if lim.quantity == "voltage" and lim.action != "abort":
                volts.append(lim.value)
    r.techniques = sorted(kinds)
    r.max_abs_current_A = max(currents) if currents else None
    if (
        plan.safety.abs_current_max_A is not None
        and r.max_abs_current_A is None
        and not r.currents_unresolved
    ):
        r.max_abs_current_A = None
    r.max_c_rate = max(rates) if rates else None
    r.voltage_min_V = min(volts) if volts else None
    r.voltage_max_V = max(volts) if volts else None
    return r


def estimate(plan: Plan) -> Estimate:
    passes = _passes(plan)
    typical = 0.0
    min_total = 0.0
    max_total: float | None = 0.0
    unbounded: list[str] = []
    rows: list[StepTime] = []
    for step, n in zip(plan.steps, passes, strict=True):
        t, mx, note = step_time(step, plan)
        rows.append(StepTime(step.index, step.label, t, mx, n, note))
        k = 1 if n is None else n
        if t is not None:
            typical += t * k
        if mx is not None and max_total is not None and n is not None:
            max_total += mx * n
        else:
            max_total = None
        if mx is not None and not [
            lim for lim in step.limits if lim.quantity != "step_time" and lim.action != "abort"
        ]:
            min_total += mx * k if isinstance(step, P.Rest | P.Wait | P.ConstantCurrent) else 0.0
        if mx is None:
            unbounded.append(f"step {step.index} ({step.label}): {note or 'no time cap'}")
        if n is None:
            unbounded.append(
                f"step {step.index} ({step.label}): inside a loop that ends only on a limit"
            )
    return Estimate(typical, min_total, max_total, unbounded, rows, resources(plan))
