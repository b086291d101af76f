"""A bound plan as a Neware BTS 8 step file: the schedule the cycler runs on its own.

Units of the file (reference/protocols.md, "Neware XML units"): time in ms, voltage in
0.1 mV, current in mA, capacity in mA·s. Step types: 1 CC charge, 2 CC discharge, 3 CC-CV
(or CV) charge, 19 CC-CV (or CV) discharge, 4 rest, 5 cycle (`Start_Step`, `Cycle_Count` =
total passes), 6 end. A plan loop becomes a cycle step after its body; `advance_cycle`
becomes nothing (the host follows the protocol's cycle count itself from the steps the
cycler reports, see `NewareSchedule.steps`); a pulse train without ends of its own becomes a
pulse, a relaxation and a cycle step. The whole-test `<Record>` is the plan's recording rule,
and a step whose rule differs carries its own. `<Protect>` holds the tighter of the
protocol's safety block and the slot's hard limits; the temperature limits have no field in
the file and are left to the host (`host_guards`), which reads the channel's aux sensor.

What the file cannot say is refused, one sentence per kind of problem, naming the step:
EIS, sweeps, constant power, waits, ends the cycler has no field for, ends that jump
elsewhere than the next step, and loops that run until a limit. Temperature and pressure
steps are the host's: the plan is cut there into segments (`segments`), one step file each,
which the schedule runner runs in turn with the host's steps between them (a loop around a
host step is refused).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from protocols import steps as P
from protocols.plan import Plan
from scheduler.errors import SchedulerError

CC_CHARGE, CC_DISCHARGE, CCCV_CHARGE, REST, CYCLE, END, CCCV_DISCHARGE = 1, 2, 3, 4, 5, 6, 19
MS, TENTH_MV, MA, MA_S = 1000.0, 10000.0, 1000.0, 3.6e6  # per s, V, A, Ah
ELSEWHERE = {
    "Impedance": "EIS cannot run on a Neware BTS channel (it has no impedance step); run it on "
    "a potentiostat slot such as an EmStat4",
    "Sweep": "voltage sweeps cannot run on a Neware BTS channel as cellbench writes its step "
    "files; run them on a potentiostat slot such as an EmStat4",
    "ConstantPower": "constant-power steps are not written into Neware step files; use a "
    "constant-current step or a potentiostat slot",
    "Wait": "a wait for a condition has no Neware step; use a rest of fixed length",
}


# Steps the host runs itself between cycler segments (on the slot's chamber or rig).
HOST_STEPS = (P.SetTemperature, P.SetPressure)


@dataclass(frozen=True)
class Segment:
    """Plan steps run in turn: by the cycler as one step file, or by the host (one step)."""

    on_cycler: bool
    indices: tuple[int, ...]


def segments(plan: Plan) -> list[Segment]:
    """The plan cut at its host steps: cycler blocks between temperature or pressure steps."""
    out: list[Segment] = []
    block: list[int] = []
    for step in plan.steps:
        if isinstance(step, HOST_STEPS):
            if block:
                out.append(Segment(True, tuple(block)))
            out.append(Segment(False, (step.index,)))
            block = []
        else:
            block.append(step.index)
    if block:
        out.append(Segment(True, tuple(block)))
    return out


@dataclass(frozen=True)
class NewareSchedule:
    """The step file and what the host needs to follow it: which plan step each step of the
    file runs (cycle and end steps run none), and the guards the host keeps itself."""

    xml: str
    steps: dict[int, int]  # step id in the file -> plan step index
    host_guards: tuple[str, ...] = ()
    passes: dict[int, int] = field(default_factory=dict)  # plan index -> its own inner cycles


@dataclass
class _Writer:
    plan: Plan
    one_c_A: float | None
    indices: frozenset[int] | None = None  # the plan steps of this step file (None: all)
    elements: list[ET.Element] = field(default_factory=list)
    steps: dict[int, int] = field(default_factory=dict)
    passes: dict[int, int] = field(default_factory=dict)  # a pulse train's pulses
    problems: dict[str, str] = field(default_factory=dict)  # kind -> first sentence

    @property
    def next_id(self) -> int:
        return len(self.elements) + 1

    def problem(self, kind: str, text: str) -> None:
        self.problems.setdefault(kind, text)

    def add(self, step_type: int, index: int | None, main: dict[str, float], **extra: Any) -> int:
        step_id = self.next_id
        element = ET.Element(f"Step{step_id}", Step_ID=str(step_id), Step_Type=str(step_type))
        limit = ET.SubElement(element, "Limit")
        main_el = ET.SubElement(limit, "Main")
        for tag, value in main.items():
            ET.SubElement(main_el, tag, Value=_num(value))
        if extra.get("other"):
            other = ET.SubElement(limit, "Other")
            for tag, value in extra["other"].items():
                ET.SubElement(other, tag, Value=_num(value))
        record = extra.get("record")
        if record is not None:
            element.append(_record(record))
        self.elements.append(element)
        if index is not None:
            self.steps[step_id] = index
        return step_id


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _record(record: P.Record) -> ET.Element:
    element = ET.Element("Record")
    main = ET.SubElement(element, "Main")
    ET.SubElement(main, "Time", Value=_num(record.dt_s * MS))
    if record.dV_V:
        ET.SubElement(main, "Volt", Value=_num(record.dV_V * TENTH_MV))
    if record.dI_A:
        ET.SubElement(main, "Curr", Value=_num(record.dI_A * MA))
    return element


def _name(step: P.Step) -> str:
    return f"step {step.index} ({step.label})" if step.label else f"step {step.index}"


def _ends(writer: _Writer, step: P.Step, charging: bool | None, cv: bool) -> dict[str, float]:
    """The Main fields of the step's ends; a problem for each end the file cannot hold."""
    main: dict[str, float] = {}
    for limit in step.limits:
        where = f"{_name(step)} ends on {limit.label or limit.quantity}"
        if limit.action != "next":
            writer.problem(
                "action",
                f"{where} and then does '{limit.action}'; a Neware step file only moves on to "
                "the next step",
            )
            continue
        if limit.after_s:
            writer.problem("after", f"{where} after a delay, which a Neware step has no field for")
            continue
        q, op, value = limit.quantity, limit.op, limit.value
        rising = op in (">", ">=")
        if q == "rate" and writer.one_c_A:
            q, value = "abs_current", value * writer.one_c_A
        if q == "step_time" and rising:
            main["Time"] = value * MS
        elif q == "step_capacity" and rising:
            main["Cap"] = value * MA_S
        elif q == "voltage" and not cv and charging is not None and rising == charging:
            main["Stop_Volt"] = value * TENTH_MV
        elif q == "abs_current" and cv and not rising:
            main["Stop_Curr"] = value * MA
        else:
            writer.problem(
                "field",
                f"{where}, which a Neware step of this kind has no field for; the cycler "
                "could not end the step there",
            )
    return main


def _electrical(writer: _Writer, step: P.Step, record: P.Record | None) -> None:
    if isinstance(step, P.Rest):
        main = _ends(writer, step, None, False)
        if "Time" not in main:
            writer.problem("rest", f"{_name(step)} is a rest without a duration")
        writer.add(REST, step.index, main, record=record)
    elif isinstance(step, P.ConstantCurrent):
        charging = _charging(step)
        main = {"Curr": abs(step.current_A) * MA, **_ends(writer, step, charging, False)}
        writer.add(CC_CHARGE if charging else CC_DISCHARGE, step.index, main, record=record)
    elif isinstance(step, P.ConstantCurrentConstantVoltage):
        charging = _charging(step)
        main = {"Curr": abs(step.current_A) * MA, "Volt": step.voltage_V * TENTH_MV}
        main.update(_ends(writer, step, charging, True))
        writer.add(CCCV_CHARGE if charging else CCCV_DISCHARGE, step.index, main, record=record)
    elif isinstance(step, P.ConstantVoltage):
        charging = step.voltage_V >= _last_voltage(writer.plan, step.index)
        main = {"Volt": step.voltage_V * TENTH_MV}
        if step.current_limit_A:
            main["Curr"] = abs(step.current_limit_A) * MA
        main.update(_ends(writer, step, charging, True))
        writer.add(CCCV_CHARGE if charging else CCCV_DISCHARGE, step.index, main, record=record)
    elif isinstance(step, P.PulseTrain):
        _pulses(writer, step, record)


def _charging(step: Any) -> bool:
    """A CC step charges when its current is positive (its C-rate's sign before binding)."""
    current = step.current_A
    if current != current and step.c_rate is not None:  # NaN: not bound to a cell yet
        return step.c_rate > 0
    return current > 0


def _last_voltage(plan: Plan, index: int) -> float:
    """The voltage the step before a CV hold drives towards (a CV above it charges)."""
    for step in reversed(plan.steps[:index]):
        volts = [lim.value for lim in step.limits if lim.quantity == "voltage"]
        if volts:
            return volts[-1]
    return plan.safety.voltage_min_V or 0.0


def _pulses(writer: _Writer, step: P.PulseTrain, record: P.Record | None) -> None:
    if step.limits or step.relax_dV_dt_V_s:
        writer.problem(
            "pulses",
            f"{_name(step)} is a pulse train with ends of its own, which a Neware cycle of "
            "pulses cannot hold",
        )
        return
    charging = step.pulse_current_A > 0
    pulse_type = CC_CHARGE if charging else CC_DISCHARGE
    main = {"Curr": abs(step.pulse_current_A) * MA, "Time": step.pulse_s * MS}
    first = writer.add(pulse_type, step.index, main, record=record)
    writer.add(REST, step.index, {"Time": step.relax_s * MS}, record=record)
    if step.n_pulses > 1:
        writer.add(CYCLE, None, {}, other={"Start_Step": first, "Cycle_Count": step.n_pulses})
        writer.passes[step.index] = step.n_pulses


def _steps(writer: _Writer) -> None:
    plan = writer.plan
    first_id: dict[int, int] = {}  # plan index -> first step id written at or after it
    for span in plan.loops:
        if span.count is None:
            writer.problem(
                "loop",
                f"the loop {span.label or f'at step {span.start}'} runs until a limit ends it; "
                "a Neware cycle step repeats a fixed number of times",
            )
    for span in plan.loops:
        inside = [i for i in range(span.start, span.end + 1)]
        if any(isinstance(plan.steps[i], HOST_STEPS) for i in inside):
            writer.problem(
                "host-loop",
                f"the loop {span.label or f'at step {span.start}'} holds a temperature or "
                "pressure step, which the host runs between cycler segments, not inside a "
                "cycle of the step file",
            )
    for step in plan.steps:
        if writer.indices is not None and step.index not in writer.indices:
            continue
        first_id[step.index] = writer.next_id
        record = step.record if step.record != plan.record else None
        if isinstance(step, HOST_STEPS):
            continue
        if type(step).__name__ in ELSEWHERE:
            writer.problem(type(step).__name__, f"{_name(step)}: {ELSEWHERE[type(step).__name__]}")
        elif not isinstance(step, P.AdvanceCycle):
            _electrical(writer, step, record)
        for span in plan.loops_containing(step.index):  # innermost first
            if span.end == step.index and span.count is not None:
                start = first_id.get(span.start)
                if start is None:
                    continue  # the loop begins outside this segment: refused above
                if start >= writer.next_id:
                    writer.problem("empty", f"the loop at step {span.start} runs no step")
                    continue
                other = {"Start_Step": start, "Cycle_Count": span.count}
                writer.add(CYCLE, None, {}, other=other)
    writer.add(END, None, {})


def _protect(plan: Plan, hard: Any) -> tuple[ET.Element, tuple[str, ...]]:
    safety = plan.safety

    def tighter(a: float | None, b: float | None, pick: Any) -> float | None:
        values = [v for v in (a, b) if v is not None]
        return pick(values) if values else None

    get = (lambda key: getattr(hard, key, None)) if hard is not None else (lambda key: None)
    v_max = tighter(safety.voltage_max_V, get("voltage_max_V"), min)
    v_min = tighter(safety.voltage_min_V, get("voltage_min_V"), max)
    i_max = tighter(safety.abs_current_max_A, get("abs_current_max_A"), min)
    protect = ET.Element("Protect")
    main = ET.SubElement(protect, "Main")
    volt = ET.SubElement(main, "Volt")
    if v_max is not None:
        ET.SubElement(volt, "Upper", Value=_num(v_max * TENTH_MV))
    if v_min is not None:
        ET.SubElement(volt, "Lower", Value=_num(v_min * TENTH_MV))
    curr = ET.SubElement(main, "Curr")
    if i_max is not None:
        ET.SubElement(curr, "Upper", Value=_num(i_max * MA))
    if safety.capacity_max_Ah is not None:
        cap = ET.SubElement(main, "Cap")
        ET.SubElement(cap, "Upper", Value=_num(safety.capacity_max_Ah * MA_S))
    t_max = tighter(safety.temperature_max_degC, get("temperature_max_degC"), min)
    t_min = tighter(safety.temperature_min_degC, get("temperature_min_degC"), max)
    guards = []
    if t_max is not None:
        guards.append(f"temperature <= {t_max:g} degC")
    if t_min is not None:
        guards.append(f"temperature >= {t_min:g} degC")
    return protect, tuple(guards)


def _writer(plan: Plan, indices: frozenset[int] | None = None, *, to_write: bool = True) -> _Writer:
    """The step file's writer, with what it found wrong; `to_write=False` checks a plan not
    yet bound to a cell (its currents unknown) for what the cycler cannot run at all."""
    writer = _Writer(plan, plan.basis.one_c_A if plan.basis else None, indices)
    if plan.needs_cell and to_write:
        writer.problem(
            "basis",
            "a Neware step file states currents in mA, so the protocol needs a cell with a "
            f"capacity basis ({', '.join(plan.needs_cell[:2])} …)",
        )
        return writer
    if indices is None and any(isinstance(step, HOST_STEPS) for step in plan.steps):
        writer.problem(
            "segments",
            f"the protocol runs in {len(segments(plan))} segments around its temperature or "
            "pressure steps, which the host runs between step files; one step file cannot "
            "hold it (a Neware slot runs it segment by segment)",
        )
    _steps(writer)
    if plan.safety.pressure_min_Pa is not None or plan.safety.pressure_max_Pa is not None:
        writer.problem(
            "pressure", "the protocol's pressure safety limits have no field in a Neware step file"
        )
    return writer


def schedule_problems(plan: Plan) -> list[str]:
    """Why the plan cannot run as Neware schedules (one step file per cycler segment, the
    host's steps between them), one sentence per kind (empty: it can)."""
    found: dict[str, str] = {}
    for segment in segments(plan):
        if segment.on_cycler:
            checked = _writer(plan, frozenset(segment.indices), to_write=False)
            for kind, text in checked.problems.items():
                found.setdefault(kind, text)
    return list(found.values())


def neware_schedule(
    plan: Plan, *, hard_limits: Any = None, remark: str = "", segment: Segment | None = None
) -> NewareSchedule:
    """The step file of `plan` (of one cycler `segment` of it), protected by its safety block
    and the slot's `hard_limits`; SchedulerError with every problem when the cycler cannot
    run it."""
    writer = _writer(plan, frozenset(segment.indices) if segment is not None else None)
    if writer.problems:
        raise SchedulerError("; ".join(writer.problems.values()))
    root = ET.Element("root")
    config = ET.SubElement(
        root,
        "config",
        type="Step File",
        version="17",
        client_version="BTS Client 8.0.0",
        date=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
    )
    head = ET.SubElement(config, "Head_Info")
    ET.SubElement(head, "Operate", Value="66")
    ET.SubElement(head, "Scale", Value="1")
    ET.SubElement(head, "Start_Step", Value="1", Hide_Ctrl_Step="0")
    ET.SubElement(head, "Creator", Value="cellbench")
    ET.SubElement(head, "Remark", Value=remark or plan.name)
    ET.SubElement(head, "RateType", Value="103")  # currents in mA, not C-rates
    whole = ET.SubElement(config, "Whole_Prt")
    protect, guards = _protect(plan, hard_limits)
    whole.append(protect)
    whole.append(_record(plan.record))
    info = ET.SubElement(config, "Step_Info", Num=str(len(writer.elements)))
    info.extend(writer.elements)
    ET.indent(root)
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return NewareSchedule(xml + "\n", dict(writer.steps), guards, dict(writer.passes))
