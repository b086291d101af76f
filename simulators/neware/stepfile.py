"""Read a BTS 8 step file (`.xml`) into the steps a simulated channel runs.

Written from the documented layout (reference/protocols.md, "Neware XML units"): a
`<config>` with `<Head_Info>`, `<Whole_Prt>` (`<Protect>` and `<Record>`) and `<Step_Info>`
whose children `<StepN Step_ID= Step_Type=>` carry `<Limit><Main>` fields. Units: time in
ms, voltage in 0.1 mV, current in mA, capacity in mA·s. Step types: 1 CC charge,
2 CC discharge, 3 CC-CV charge (a CV charge without `Curr`), 19 CC-CV discharge, 4 rest,
5 cycle (`<Other><Start_Step>`, `<Cycle_Count>`: total passes), 6 end, 25 LSV.

A step may carry its own `<Record>` (it replaces the file's for that step). The simulated
channels do not model LSV (type 25); such a file is refused like any type they do not know.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree

from simulators.errors import SimulatorError

CC_CHARGE, CC_DISCHARGE, CCCV_CHARGE, REST, CYCLE, END, CCCV_DISCHARGE = 1, 2, 3, 4, 5, 6, 19
RUNNABLE = {CC_CHARGE, CC_DISCHARGE, CCCV_CHARGE, CCCV_DISCHARGE, REST, CYCLE, END}
MAX_FILE_BYTES = 2_000_000  # a step file larger than this is not a step file


@dataclass(frozen=True)
class Record:
    """When a channel logs a point: every `dt_s`, or a change of `dv_V` or `di_A`."""

    dt_s: float | None = None
    dv_V: float | None = None
    di_A: float | None = None


@dataclass(frozen=True)
class Protect:
    """The file's protection limits (None: not set); tripping one ends the test in protect."""

    v_max: float | None = None
    v_min: float | None = None
    i_max_A: float | None = None
    i_min_A: float | None = None
    cap_max_Ah: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Step:
    """One step of the file, in SI units; `current_A` is the magnitude the type signs."""

    step_id: int
    step_type: int
    current_A: float | None = None
    volt_V: float | None = None  # the CV level of a CC-CV step
    stop_volt_V: float | None = None
    stop_curr_A: float | None = None
    time_s: float | None = None
    cap_Ah: float | None = None
    start_step: int | None = None  # a cycle step's target ...
    cycle_count: int | None = None  # ... and its total passes
    record: Record | None = None


@dataclass(frozen=True)
class StepFile:
    """A parsed step file: its steps by id, the whole-test record rule and protection."""

    steps: dict[int, Step]
    record: Record = field(default_factory=Record)
    protect: Protect = field(default_factory=Protect)
    first: int = 1

    def record_for(self, step: Step) -> Record:
        return step.record or self.record


def _value(parent: Any, path: str, scale: float) -> float | None:
    node = parent.find(path) if parent is not None else None
    if node is None:
        return None
    raw = node.get("Value")
    try:
        value = float(raw) / scale
    except (TypeError, ValueError):
        raise SimulatorError(f"step file: {path} has no number Value ({raw!r})") from None
    if not math.isfinite(value):
        raise SimulatorError(f"step file: {path} Value {raw!r} is not finite")
    return value


def _record(node: Any) -> Record | None:
    if node is None:
        return None
    main = node.find("Main")
    ms = _value(main, "Time", 1000.0)
    dv = _value(main, "Volt", 10000.0)
    di = _value(main, "Curr", 1000.0)
    return Record(ms if ms else None, dv if dv else None, di if di else None)


def _protect(node: Any) -> Protect:
    if node is None:
        return Protect()
    main = node.find("Main")
    i_max = _value(main, "Curr/Upper", 1000.0)
    i_min = _value(main, "Curr/Lower", 1000.0)
    return Protect(
        v_max=_value(main, "Volt/Upper", 10000.0),
        v_min=_value(main, "Volt/Lower", 10000.0),
        i_max_A=i_max,
        i_min_A=i_min,
        cap_max_Ah=_value(main, "Cap/Upper", 3.6e6),
        delay_s=_value(main, "Delay_Time", 1000.0) or 0.0,
    )


def _step(node: Any) -> Step:
    try:
        step_id, step_type = int(node.get("Step_ID")), int(node.get("Step_Type"))
    except (TypeError, ValueError):
        raise SimulatorError(f"step file: {node.tag} has no whole Step_ID/Step_Type") from None
    if step_type not in RUNNABLE:
        raise SimulatorError(f"step file: step {step_id} has Step_Type {step_type}, not run here")
    main = node.find("Limit/Main")
    other = node.find("Limit/Other")
    start = _value(other, "Start_Step", 1.0)
    count = _value(other, "Cycle_Count", 1.0)
    step = Step(
        step_id=step_id,
        step_type=step_type,
        current_A=_value(main, "Curr", 1000.0),
        volt_V=_value(main, "Volt", 10000.0),
        stop_volt_V=_value(main, "Stop_Volt", 10000.0),
        stop_curr_A=_value(main, "Stop_Curr", 1000.0),
        time_s=_value(main, "Time", 1000.0),
        cap_Ah=_value(main, "Cap", 3.6e6),
        start_step=int(start) if start is not None else None,
        cycle_count=int(count) if count is not None else None,
        record=_record(node.find("Record")),
    )
    _check(step)
    return step


def _check(step: Step) -> None:
    where = f"step file: step {step.step_id}"
    if step.step_type in (CC_CHARGE, CC_DISCHARGE) and not step.current_A:
        raise SimulatorError(f"{where} is a CC step without Curr")
    if step.step_type in (CCCV_CHARGE, CCCV_DISCHARGE) and step.volt_V is None:
        raise SimulatorError(f"{where} is a CC-CV step without Volt")
    if step.step_type == CYCLE and (not step.start_step or not step.cycle_count):
        raise SimulatorError(f"{where} is a cycle step without Start_Step and Cycle_Count")
    ends = (step.stop_volt_V, step.stop_curr_A, step.time_s, step.cap_Ah)
    if step.step_type not in (CYCLE, END) and all(v is None for v in ends):
        raise SimulatorError(f"{where} has no end (Stop_Volt, Stop_Curr, Time or Cap)")


def parse_step_file(text: str) -> StepFile:
    """The steps of a step file; SimulatorError names what is wrong with it."""
    if len(text) > MAX_FILE_BYTES:
        raise SimulatorError("step file is larger than 2 MB")
    try:
        root = ElementTree.fromstring(text)
    except Exception as exc:  # ParseError, or defusedxml's refusal of entities
        raise SimulatorError(f"step file is not readable XML ({exc})") from None
    config = root if root.tag == "config" else root.find("config")
    info = config.find("Step_Info") if config is not None else None
    if info is None:
        raise SimulatorError("step file has no <config><Step_Info>")
    steps = {s.step_id: s for s in (_step(node) for node in info)}
    if not steps:
        raise SimulatorError("step file has no steps")
    whole = config.find("Whole_Prt") if config is not None else None
    head = config.find("Head_Info/Start_Step") if config is not None else None
    first = int(head.get("Value", "1")) if head is not None else min(steps)
    for step in steps.values():
        if step.step_type == CYCLE and step.start_step not in steps:
            raise SimulatorError(f"step file: step {step.step_id} cycles to a missing step")
    if first not in steps:
        raise SimulatorError(f"step file starts at step {first}, which it does not have")
    record = _record(whole.find("Record")) if whole is not None else None
    return StepFile(
        steps,
        record or Record(),
        _protect(whole.find("Protect") if whole is not None else None),
        first,
    )
