"""The electrochemical part of a protocol as a PyBaMM `Experiment`.

PyBaMM has no EIS, sweeps, pressure, chamber soaks, goto or safety limits, so those are left
out and listed in `omitted`. Loops are unrolled; each `advance_cycle` closes a PyBaMM cycle
(a tuple of step strings). Signs: cellbench's positive = charge becomes PyBaMM's "Charge at"
(PyBaMM's internal positive = discharge). Voltages are cell voltages after reference
conversion. Temperatures set by `set_temperature` are attached to the following steps when
building the Experiment (PyBaMM takes them as a step keyword, not inside the string).
pybamm is imported only when an Experiment is built.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from protocols import steps as P
from protocols.plan import Plan
from protocols.protocol import Protocol

MAX_EXPORT_STEPS = 20_000


@dataclass
class _Out:
    cycles: list[list[tuple[str, float | None]]]
    omitted: list[str]


def _num(x: float) -> str:
    return f"{x:.6g}"


def _terms(step: P.Step, plan: Plan, omitted: set[str]) -> tuple[str | None, list[str]]:
    """(' for …' duration text, list of 'until' terms) for the PyBaMM string."""
    duration = None
    terms: list[str] = []
    for lim in step.limits:
        if lim.action == "abort":
            omitted.add("step safety limits (PyBaMM has no per-step safety)")
            continue
        if lim.quantity == "step_time":
            duration = lim.value if duration is None else min(duration, lim.value)
        elif lim.quantity == "voltage":
            op = "<" if lim.op in ("<", "<=") else ">"
            terms.append(f"{op}{_num(lim.value)} V")
        elif lim.quantity == "abs_current" and lim.op in ("<", "<="):
            terms.append(f"{_num(lim.value * 1000)} mA")
        elif lim.quantity == "rate" and lim.op in ("<", "<="):
            terms.append(f"{_num(lim.value)}C")
        else:
            omitted.add(f"{lim.quantity} limits (PyBaMM has no such termination)")
        if lim.action in ("goto", "end_loop", "pause"):
            omitted.add(f"limit action {lim.action} (PyBaMM steps always go to the next step)")
    dur = f" for {_num(duration)} seconds" if duration is not None else None
    return dur, terms


def _compose(head: str, dur: str | None, terms: list[str], period: float | None) -> str:
    text = head
    if dur:
        text += dur
    if terms:
        text += (" or" if dur else "") + " until " + " or ".join(terms)
    if period:
        text += f" ({_num(period)} second period)"
    return text


_NEEDS_CELL = "currents that need a cell (bind with a cell to export them)"


def _held(step: P.Step, plan: Plan, omitted: set[str]) -> tuple[str | None, list[str]]:
    """A held step's duration and end terms; with neither, it runs for one hour."""
    dur, terms = _terms(step, plan, omitted)
    if dur is None and not terms:
        dur = " for 3600 seconds"
    return dur, terms


class _NeedsCell(Exception):
    """A current in C (or per gram, per cm²) with no cell bound to resolve it."""


def _current(current_A: float, c_rate: float | None) -> tuple[str, str]:
    """(Charge or Discharge, the current as PyBaMM reads it); _NeedsCell when it needs a cell."""
    if c_rate is not None and c_rate != 0:
        value = f"{_num(abs(c_rate))}C"
    elif math.isfinite(current_A):
        value = f"{_num(abs(current_A) * 1000)} mA"
    else:
        raise _NeedsCell
    return ("Charge" if (c_rate or current_A) > 0 else "Discharge"), value


def _step_strings(step: P.Step, plan: Plan, omitted: set[str]) -> list[str]:
    """The PyBaMM strings of one step; a step whose current needs a cell is left out, noted."""
    try:
        return _strings(step, plan, omitted)
    except _NeedsCell:
        omitted.add(_NEEDS_CELL)
        return []


def _strings(step: P.Step, plan: Plan, omitted: set[str]) -> list[str]:
    period = step.record.dt_s if step.record else None
    if isinstance(step, P.Rest | P.Wait):
        dur, _ = _terms(step, plan, omitted)
        if dur is None:
            omitted.add("rests without a time cap (exported as 1 hour)")
            dur = " for 3600 seconds"
        return [_compose("Rest", dur, [], period)]
    if isinstance(step, P.ConstantCurrent):
        verb, value = _current(step.current_A, step.c_rate)
        dur, terms = _held(step, plan, omitted)
        return [_compose(f"{verb} at {value}", dur, terms, period)]
    if isinstance(step, P.ConstantVoltage):
        dur, terms = _held(step, plan, omitted)
        return [_compose(f"Hold at {_num(step.voltage_V)} V", dur, terms, period)]
    if isinstance(step, P.ConstantCurrentConstantVoltage):
        verb, value = _current(step.current_A, step.c_rate)
        op = ">" if verb == "Charge" else "<"
        dur, terms = _terms(step, plan, omitted)
        cc = f"{verb} at {value} until {op}{_num(step.voltage_V)} V"
        cv = _compose(f"Hold at {_num(step.voltage_V)} V", dur, terms, period)
        return [cc + (f" ({_num(period)} second period)" if period else ""), cv]
    if isinstance(step, P.ConstantPower):
        verb = "Charge" if step.power_W > 0 else "Discharge"
        dur, terms = _held(step, plan, omitted)
        return [_compose(f"{verb} at {_num(abs(step.power_W) * 1000)} mW", dur, terms, period)]
    if isinstance(step, P.PulseTrain):
        verb, value = _current(step.pulse_current_A, step.c_rate)
        _dur, terms = _terms(step, plan, omitted)
        if step.relax_dV_dt_V_s:
            omitted.add("GITT relaxation end on |dV/dt| (exported as the fixed relaxation time)")
        pulse = _compose(f"{verb} at {value}", f" for {_num(step.pulse_s)} seconds", terms, period)
        rest = _compose("Rest", f" for {_num(step.relax_s)} seconds", [], None)
        omitted.add(
            "ending the whole pulse train on a limit (PyBaMM skips the pulses that cannot start)"
        )
        return [pulse, rest] * step.n_pulses
    if isinstance(step, P.Impedance):
        omitted.add("EIS")
        return []
    if isinstance(step, P.Sweep):
        omitted.add("voltage sweeps (CV/LSV)")
        return []
    if isinstance(step, P.SetPressure):
        omitted.add("stack pressure")
        return []
    return []


def _walk(plan: Plan) -> _Out:
    omitted: set[str] = set()
    cycles: list[list[tuple[str, float | None]]] = [[]]
    temperature: float | None = None
    total = 0
    visits: dict[int, int] = {}

    def emit(i: int) -> None:
        nonlocal temperature, total
        step = plan.steps[i]
        if isinstance(step, P.AdvanceCycle):
            if cycles[-1]:
                cycles.append([])
            return
        if isinstance(step, P.SetTemperature):
            temperature = step.target_degC
            omitted.add(
                "chamber soak and stability criteria (the temperature is applied to later steps)"
            )
            return
        for text in _step_strings(step, plan, omitted):
            total += 1
            if total > MAX_EXPORT_STEPS:
                return
            cycles[-1].append((text, temperature))
        visits[i] = visits.get(i, 0) + 1

    def run(start: int, end: int, active: frozenset[int]) -> None:
        i = start
        while i <= end:
            spans = [
                (k, s)
                for k, s in enumerate(plan.loops)
                if s.start == i and s.end <= end and k not in active
            ]
            if spans:
                k, outer = max(spans, key=lambda ks: ks[1].end - ks[1].start)
                count = outer.count
                if count is None:
                    omitted.add("loops that end only on a limit (exported as one pass)")
                    count = 1
                for _ in range(count):
                    run(outer.start, outer.end, active | {k})
                    if total > MAX_EXPORT_STEPS:
                        return
                i = outer.end + 1
                continue
            emit(i)
            i += 1

    if plan.steps:
        run(0, len(plan.steps) - 1, frozenset())
    if total > MAX_EXPORT_STEPS:
        omitted.add(f"everything after the first {MAX_EXPORT_STEPS} PyBaMM steps")
    if any(s.tag for s in plan.steps) or any(
        lim.action == "goto" for s in plan.steps for lim in s.limits
    ):
        omitted.add("tags and gotos")
    omitted.add("whole-protocol safety limits")
    cycles = [c for c in cycles if c]
    return _Out(cycles, sorted(omitted))


def _plan_of(obj: Protocol | Plan) -> Plan:
    if isinstance(obj, Plan):
        return obj
    return obj.check()


def to_pybamm(protocol_or_plan: Protocol | Plan) -> tuple[list[str | tuple[str, ...]], list[str]]:
    """PyBaMM operating conditions (one tuple per cycle; single steps as plain strings)."""
    out = _walk(_plan_of(protocol_or_plan))
    conditions: list[str | tuple[str, ...]] = []
    for cycle in out.cycles:
        texts = tuple(t for t, _ in cycle)
        conditions.append(texts[0] if len(texts) == 1 else texts)
    return conditions, out.omitted


def build_experiment(protocol_or_plan: Protocol | Plan, **kwargs: Any) -> Any:
    """A `pybamm.Experiment` with per-step temperatures; extra kwargs go to Experiment."""
    import pybamm

    out = _walk(_plan_of(protocol_or_plan))
    if not out.cycles:
        raise ValueError("the protocol has no electrochemical steps PyBaMM can run")
    conditions: list[Any] = []
    for cycle in out.cycles:
        steps = []
        for text, temp in cycle:
            if temp is None:
                steps.append(text)
            else:
                steps.append(pybamm.step.string(text, temperature=f"{temp:g}oC"))
        conditions.append(tuple(steps))
    return pybamm.Experiment(conditions, **kwargs)


def experiment_config(protocol_or_plan: Protocol | Plan) -> dict[str, Any]:
    """JSON config that `pybamm.Experiment.from_config` reads, plus what was left out."""
    exp = build_experiment(protocol_or_plan)
    config = exp.to_config()
    _, omitted = to_pybamm(protocol_or_plan)
    plan = _plan_of(protocol_or_plan)
    return {
        "cellbench": {"protocol": plan.name, "sha256": plan.sha256, "omitted": omitted},
        **config,
    }


def python_source(protocol_or_plan: Protocol | Plan) -> str:
    """A standalone Python script that builds the same Experiment."""
    plan = _plan_of(protocol_or_plan)
    out = _walk(plan)
    lines = [
        f'"""PyBaMM experiment exported from the cellbench protocol {plan.name!r} (sha256 '
        f"{plan.sha256[:12]}).",
        "",
        "Left out (PyBaMM cannot express these):",
        *[f"- {o}" for o in out.omitted],
        "",
        "Sign: 'Charge' is cellbench positive current; PyBaMM stores it as negative.",
        '"""',
        "",
        "import pybamm",
        "",
        "",
        "def s(text, temperature=None):",
        "    if temperature is None:",
        "        return text",
        "    return pybamm.step.string(text, temperature=temperature)",
        "",
        "",
        "operating_conditions = [",
    ]
    for cycle in out.cycles:
        items = ", ".join(
            json.dumps(t) if temp is None else f"s({json.dumps(t)}, {json.dumps(f'{temp:g}oC')})"
            for t, temp in cycle
        )
        lines.append(f"    ({items},),")
    lines += [
        "]",
        "experiment = pybamm.Experiment(operating_conditions)",
        "",
        'if __name__ == "__main__":',
        "    model = pybamm.lithium_ion.SPM()",
        "    sim = pybamm.Simulation(model, experiment=experiment)",
        "    sim.solve()",
        '    print(sim.solution["Voltage [V]"].entries.min(), sim.solution["Voltage '
        '[V]"].entries.max())',
        "",
    ]
    return "\n".join(lines)
