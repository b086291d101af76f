"""One-line descriptions of resolved steps and limits, for `protocol check` and logs."""

from __future__ import annotations

import math

from protocols import steps as P
from protocols.relaxation import drift_window_s
from protocols.units import format_si

_QTY_UNITS = {
    "step_time": "s",
    "test_time": "s",
    "voltage": "V",
    "current": "A",
    "abs_current": "A",
    "rate": "C",
    "step_capacity": "Ah",
    "dV_dt": "V/s",
    "dI_dt": "A/s",
    "temperature": "°C",
    "pressure": "Pa",
    "cycle_count": "",
    "loop_count": "",
}
_NAMES = {
    "abs_current": "|I|",
    "current": "I",
    "voltage": "V",
    "dV_dt": "|dV/dt|",
    "dI_dt": "|dI/dt|",
}


def _time(seconds: float) -> str:
    if seconds >= 3600 and (seconds / 3600) == int(seconds / 3600):
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _amps(a: float, c: float | None) -> str:
    if not math.isfinite(a):
        return f"{c:+.4g}C" if c is not None else "? A (needs a cell)"
    text = format_si(a, "A")
    if c is not None:
        text += f" ({c:+.4g}C)"
    return text


def _drift(threshold_V_s: float, interval_s: float | None) -> str:
    """|dV/dt| < x mV/h, with the block length the run compares means over."""
    text = f"{threshold_V_s * 3.6e6:.4g} mV/h"
    if interval_s is not None:
        text += f" over {_time(drift_window_s(threshold_V_s, interval_s))} blocks"
    return text


def describe_limit(lim: P.Limit, interval_s: float | None = None) -> str:
    """One limit; `interval_s` (the step's record interval) adds a |dV/dt|'s block length."""
    q = lim.quantity
    name = _NAMES.get(q, q)
    if q in ("step_time", "test_time"):
        value = _time(lim.value)
    elif q == "dV_dt":
        value = _drift(lim.value, interval_s)
    elif q in ("voltage", "current", "abs_current", "dI_dt"):
        value = format_si(lim.value, _QTY_UNITS[q]) if math.isfinite(lim.value) else "?"
    elif q == "step_capacity":
        value = format_si(lim.value, "Ah") if math.isfinite(lim.value) else "?"
    elif q == "pressure":
        value = f"{lim.value / 1e6:g} MPa"
    elif q == "rate":
        value = f"{lim.value:g}C"
    elif q == "temperature":
        value = f"{lim.value:g} °C"
    else:
        value = f"{lim.value:g}"
    text = f"{name} {lim.op} {value}"
    if lim.after_s:
        text += f" (after {_time(lim.after_s)})"
    if lim.action == "goto":
        text += f" → goto {lim.target}"
    elif lim.action != "next":
        text += f" → {lim.action}"
    return text


def describe_step(step: P.Step) -> str:
    if isinstance(step, P.ConstantCurrent):
        return f"CC {_amps(step.current_A, step.c_rate)}"
    if isinstance(step, P.ConstantCurrentConstantVoltage):
        return f"CCCV {_amps(step.current_A, step.c_rate)} to {step.voltage_V:.4g} V"
    if isinstance(step, P.ConstantVoltage):
        extra = f", ≤ {format_si(step.current_limit_A, 'A')}" if step.current_limit_A else ""
        return f"CV {step.voltage_V:.4g} V{extra}"
    if isinstance(step, P.ConstantPower):
        return f"CP {format_si(step.power_W, 'W')}"
    if isinstance(step, P.PulseTrain):
        if step.relax_dV_dt_V_s:
            drift = _drift(step.relax_dV_dt_V_s, step.record.dt_s)
            rest = f"rest until |dV/dt| < {drift}, at most {_time(step.relax_s)}"
        else:
            rest = f"rest {_time(step.relax_s)}"
        return (
            f"pulses {step.n_pulses} × ({_amps(step.pulse_current_A, step.c_rate)} for "
            f"{_time(step.pulse_s)}, {rest})"
        )
    if isinstance(step, P.Impedance):
        mode = "PEIS" if step.mode == "potentiostatic" else "GEIS"
        amp = format_si(step.amplitude, "V" if mode == "PEIS" else "A")
        bias = (
            "OCV"
            if step.dc_bias is None
            else format_si(step.dc_bias, "V" if mode == "PEIS" else "A")
        )
        return (
            f"{mode} {format_si(step.f_start_Hz, 'Hz')} → {format_si(step.f_end_Hz, 'Hz')},"
            f" {step.points_per_decade}/decade, {amp} at {bias}, ×{step.averages}"
        )
    if isinstance(step, P.Sweep):
        start = "OCV" if step.start_at_ocv else f"{step.start_V:.4g} V"
        end = "OCV" if step.start_at_ocv and step.vertices_V else f"{step.end_V:.4g} V"
        verts = "".join(f" → {v:.4g} V" for v in step.vertices_V)
        rate = format_si(step.scan_rate_V_s, "V/s")
        cycles = f" × {step.n_cycles}" if step.vertices_V else ""
        return f"{'CV' if step.vertices_V else 'LSV'} {start}{verts} → {end} at {rate}{cycles}"
    if isinstance(step, P.SetTemperature):
        parts = [f"chamber {step.target_degC:g} °C ± {step.tolerance_K:g} K"]
        if step.ramp_K_per_min:
            parts.append(f"ramp {step.ramp_K_per_min:g} K/min")
        if step.stable_for_s:
            parts.append(f"stable {_time(step.stable_for_s)}")
        if step.soak_s:
            parts.append(f"soak {_time(step.soak_s)}")
        return ", ".join(parts)
    if isinstance(step, P.SetPressure):
        p = f"{step.target_Pa / 1e6:g} MPa" if math.isfinite(step.target_Pa) else "? MPa"
        return f"stack pressure {p} ± {step.tolerance_Pa / 1e6:g} MPa"
    if isinstance(step, P.Wait):
        return "wait"
    if isinstance(step, P.AdvanceCycle):
        return "next cycle"
    if isinstance(step, P.Rest):
        return "rest (OCV)"
    return step.kind
