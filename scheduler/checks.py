"""Submission checks: can a bound plan run on a slot of the bench?

A job is refused at submission when its slot cannot run it (EIS on a DC SourceMeter, more
current than the slot allows, a spectrum above the instrument's frequency range, a
temperature step without a chamber…), so a technician learns it at the bench, not at 3 a.m.
when the step comes up. What an instrument can do comes from its kind's registration
(`scheduler.kinds`); what the slot allows from its hard limits in the bench file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from protocols import steps as P
from protocols.units import format_si
from scheduler.errors import SchedulerError
from scheduler.instruments import SlotCapabilities, slot_capabilities

REST_MARGIN_V = 0.01  # how far inside a hard limit a resting cell must be (noise, drift)
TECHNIQUE_WORDS = {
    "rest": "open-circuit rests",
    "cc": "constant-current steps",
    "cv": "constant-voltage steps",
    "pulse_train": "pulse trains",
    "eis": "EIS",
    "geis": "EIS",
    "sweep": "voltage sweeps",
    "cp": "constant-power steps",
}


def slot_names(bench: Any) -> list[str]:
    """Every slot of the bench, in bench-file order."""
    slots = getattr(bench, "slots", None) or []
    if isinstance(slots, dict):
        return list(slots)
    return [getattr(s, "name", str(s)) for s in slots]


def _slot(bench: Any, name: str) -> Any:
    try:
        return bench.slot(name)
    except (KeyError, LookupError, SchedulerError):
        known = ", ".join(slot_names(bench)) or "none"
        raise SchedulerError(
            f"bench {getattr(bench, 'name', '?')} has no slot {name!r}; its slots are: {known}"
        ) from None


def _limit(limits: Any, key: str) -> float | None:
    if limits is None:
        return None
    value = limits.get(key) if isinstance(limits, dict) else getattr(limits, key, None)
    return None if value is None else float(value)


def _step_name(step: P.Step) -> str:
    return f"step {step.index} ({step.label})" if step.label else f"step {step.index}"


def _techniques(step: P.Step) -> tuple[str, ...]:
    """The driver techniques a protocol step needs from the potentiostat channel."""
    if isinstance(step, P.Rest | P.Wait):
        return ("rest",)
    if isinstance(step, P.ConstantCurrent):
        return ("cc",)
    if isinstance(step, P.ConstantVoltage):
        return ("cv",)
    if isinstance(step, P.ConstantCurrentConstantVoltage):
        return ("cc", "cv")
    if isinstance(step, P.PulseTrain):
        return ("pulse_train",)
    if isinstance(step, P.Impedance):
        return ("eis" if step.mode == "potentiostatic" else "geis",)
    if isinstance(step, P.Sweep):
        return ("sweep",)
    if isinstance(step, P.ConstantPower):
        return ("cp",)
    return ()


def _step_current_A(step: P.Step) -> float | None:
    """The largest current magnitude a step drives, when it states one."""
    values: list[float] = []
    for attr in ("current_A", "pulse_current_A", "current_limit_A"):
        v = getattr(step, attr, None)
        if v is not None and math.isfinite(v):
            values.append(abs(v))
    if isinstance(step, P.Impedance) and step.mode == "galvanostatic":
        values.append(abs(step.amplitude) + abs(step.dc_bias or 0.0))
    return max(values) if values else None


def _step_voltages(step: P.Step) -> list[float]:
    """Cell voltages a step drives to or runs until (not its abort safety limits)."""
    volts: list[float] = []
    if isinstance(step, P.ConstantVoltage | P.ConstantCurrentConstantVoltage):
        volts.append(step.voltage_V)
    if isinstance(step, P.Sweep):
        volts.extend(step.vertices_V)
        if not step.start_at_ocv:
            volts.extend([step.start_V, step.end_V])
        elif not step.vertices_V or step.end_V != 0.0:
            volts.append(step.end_V)  # a CV from the OCV without its own end ends there too
    volts.extend(
        lim.value for lim in step.limits if lim.quantity == "voltage" and lim.action != "abort"
    )
    return volts


class _Problems:
    """Problems of one slot, one line per kind; later steps with the same problem are counted."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}
        self.more: dict[str, int] = {}

    def add(self, key: str, text: str) -> None:
        if key in self.first:
            self.more[key] = self.more.get(key, 0) + 1
        else:
            self.first[key] = text

    def lines(self) -> list[str]:
        out = []
        for key, text in self.first.items():
            n = self.more.get(key, 0)
            out.append(text + (f" (and {n} later step{'s' if n > 1 else ''})" if n else ""))
        return out


@dataclass(frozen=True)
class _Fit:
    """One slot as the checks see it: its name, what its instruments can do, its limits."""

    slot: str
    pstat: str  # the potentiostat's label, for messages
    caps: SlotCapabilities
    limits: Any
    has_chamber: bool
    has_rig: bool

    def limit(self, key: str) -> float | None:
        return _limit(self.limits, key)


def fit_problems(plan: Any, bench: Any, slot_name: str) -> list[str]:
    """Why `plan` cannot run on the slot, one sentence per kind of problem (empty: it can)."""
    slot = _slot(bench, slot_name)
    caps = slot_capabilities(bench, slot.name)
    fit = _Fit(
        slot_name,
        caps.potentiostat_kind.label,
        caps,
        getattr(slot, "limits", None),
        bool(getattr(slot, "chamber", None)),
        bool(getattr(slot, "rig", None)),
    )
    found = _Problems()
    for step in plan.steps:
        where = f"the protocol's {_step_name(step)}"
        _technique_problems(step, where, fit, found)
        _current_problems(step, where, fit, found)
        _voltage_problems(step, where, fit, found)
        _frequency_problems(step, where, fit, found)
        _environment_problems(step, where, fit, found)
    for text in caps.potentiostat_kind.schedule_problems(plan):  # a cycler's step file
        found.add(text, f"slot {slot_name}'s {fit.pstat}: {text}")
    return found.lines() + rest_problems(bench, slot_name)


def rest_problems(bench: Any, slot_name: str) -> list[str]:
    """A slot whose (simulated) cell rests outside the slot's hard limits, or so close to one
    that measurement noise crosses it (REST_MARGIN_V): any job there would trip at its first
    sample, so none is accepted."""
    from scheduler.sim.rest import simulated_rest_V

    volts = simulated_rest_V(bench, slot_name)
    limits = getattr(_slot(bench, slot_name), "limits", None)
    low, high = _limit(limits, "voltage_min_V"), _limit(limits, "voltage_max_V")
    if volts is None:
        return []
    for bound, side, out in ((low, "below", -1.0), (high, "above", 1.0)):
        if bound is not None and (volts - bound) * out > -REST_MARGIN_V:
            return [
                f"slot {slot_name}'s cell rests at {volts:.4f} V, at or {side} the slot's hard "
                f"limit {bound:g} V (less than {REST_MARGIN_V * 1e3:g} mV inside it), so the "
                "job would trip at its first sample"
            ]
    return []


def _technique_problems(step: P.Step, where: str, fit: _Fit, found: _Problems) -> None:
    if fit.caps.potentiostat.runs == "schedule":
        return  # the kind's schedule_problems name what its schedules cannot hold
    techniques = fit.caps.potentiostat.techniques
    for tech in _techniques(step):
        if tech in techniques:
            continue
        if tech in ("eis", "geis"):
            mode = "PEIS" if tech == "eis" else "GEIS"
            found.add("eis", f"slot {fit.slot}'s {fit.pstat} cannot do EIS; {where} is a {mode}")
        else:
            words = TECHNIQUE_WORDS.get(tech, tech)
            found.add(tech, f"slot {fit.slot}'s {fit.pstat} cannot run {words}; {where} is one")


def _current_problems(step: P.Step, where: str, fit: _Fit, found: _Problems) -> None:
    amps = _step_current_A(step)
    if amps is None:
        return
    hard_A = fit.limit("abs_current_max_A")
    range_A = fit.caps.potentiostat.current_range_A
    if hard_A is not None and amps > hard_A * (1 + 1e-9):
        found.add(
            "current",
            f"{where} drives {format_si(amps, 'A')} but slot {fit.slot} allows at "
            f"most {format_si(hard_A, 'A')}",
        )
    elif range_A is not None and amps > range_A * (1 + 1e-9):
        found.add(
            "range",
            f"{where} drives {format_si(amps, 'A')} but slot {fit.slot}'s {fit.pstat} "
            f"sources at most {format_si(range_A, 'A')}",
        )


def _voltage_problems(step: P.Step, where: str, fit: _Fit, found: _Problems) -> None:
    v_lo, v_hi = fit.limit("voltage_min_V"), fit.limit("voltage_max_V")
    caps = fit.caps.potentiostat
    range_V, compliance_V = caps.voltage_range_V, caps.compliance_V
    for volts in _step_voltages(step):
        if (v_lo is not None and volts < v_lo - 1e-9) or (v_hi is not None and volts > v_hi + 1e-9):
            low = "-∞" if v_lo is None else f"{v_lo:g}"
            high = "∞" if v_hi is None else f"{v_hi:g}"
            found.add(
                "voltage",
                f"{where} goes to {volts:.4g} V, outside slot {fit.slot}'s hard limits "
                f"{low}–{high} V",
            )
            return
        if range_V is not None and not range_V[0] - 1e-9 <= volts <= range_V[1] + 1e-9:
            found.add(
                "range_V",
                f"{where} goes to {volts:.4g} V, outside the {range_V[0]:g}–{range_V[1]:g} V "
                f"range of slot {fit.slot}'s {fit.pstat}",
            )
            return
        if compliance_V is not None and abs(volts) > compliance_V + 1e-9:
            setting = f" ({caps.compliance_setting})" if caps.compliance_setting else ""
            found.add(
                "compliance",
                f"{where} goes to {volts:.4g} V but slot {fit.slot}'s {fit.pstat} is set to "
                f"at most {compliance_V:g} V{setting}",
            )
            return


def _frequency_problems(step: P.Step, where: str, fit: _Fit, found: _Problems) -> None:
    """A spectrum reaching beyond the frequencies the instrument measures impedance at."""
    band = fit.caps.potentiostat.eis_frequency_Hz
    if not isinstance(step, P.Impedance) or band is None:
        return
    low, high = sorted((step.f_start_Hz, step.f_end_Hz))
    if low >= band[0] * (1 - 1e-9) and high <= band[1] * (1 + 1e-9):
        return
    found.add(
        "frequency",
        f"{where} measures impedance from {format_si(high, 'Hz')} to {format_si(low, 'Hz')} "
        f"but slot {fit.slot}'s {fit.pstat} measures only from {format_si(band[1], 'Hz')} "
        f"to {format_si(band[0], 'Hz')}",
    )


def _environment_problems(step: P.Step, where: str, fit: _Fit, found: _Problems) -> None:
    if isinstance(step, P.SetTemperature):
        t_max, t_min = fit.limit("temperature_max_degC"), fit.limit("temperature_min_degC")
        if not fit.has_chamber:
            found.add(
                "chamber",
                f"slot {fit.slot} has no chamber; {where} sets the temperature to "
                f"{step.target_degC:g} °C",
            )
        elif t_max is not None and step.target_degC > t_max:
            found.add(
                "t_max",
                f"{where} sets {step.target_degC:g} °C but slot {fit.slot} allows at most "
                f"{t_max:g} °C",
            )
        elif t_min is not None and step.target_degC < t_min:
            found.add(
                "t_min",
                f"{where} sets {step.target_degC:g} °C but slot {fit.slot} allows at "
                f"least {t_min:g} °C",
            )
    if isinstance(step, P.SetPressure):
        mpa = step.target_Pa / 1e6
        p_max = fit.limit("pressure_max_MPa")
        if not fit.has_rig:
            found.add(
                "rig",
                f"slot {fit.slot} has no pressure rig; {where} sets the stack pressure to "
                f"{mpa:g} MPa",
            )
        elif p_max is not None and mpa > p_max:
            found.add(
                "p_max",
                f"{where} sets {mpa:g} MPa but slot {fit.slot} allows at most {p_max:g} MPa",
            )


def fitting_slots(plan: Any, bench: Any, protocol_name: str, slot: str | None = None) -> list[str]:
    """The slots of `bench` that can run `plan`: `slot` alone when it is named, else every
    slot that fits. Refuses, in one sentence naming the protocol, the slot and why, a plan
    that fits none (what `queue submit` and `protocol check --bench` say)."""
    if slot is not None:
        problems = fit_problems(plan, bench, slot)
        if problems:
            raise SchedulerError(
                f"protocol {protocol_name} cannot run on slot {slot}: {'; '.join(problems)}"
            )
        return [slot]
    names = slot_names(bench)
    why = {name: fit_problems(plan, bench, name) for name in names}
    fits = [name for name in names if not why[name]]
    if not fits:
        reasons = "; ".join(f"{problems[0]}" for problems in why.values() if problems)
        raise SchedulerError(
            f"protocol {protocol_name} fits no slot of bench {getattr(bench, 'name', None)}: "
            f"{reasons or 'the bench has no slots'}"
        )
    return fits
