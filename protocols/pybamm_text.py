"""PyBaMM step strings as shorthand for a protocol step.

Accepted grammar (PyBaMM's `pybamm.step.string`):

    step     := instr [" for " duration] [" or"] [" until " term [" or " term]]
                [" (" period " period)"]
    instr    := ("Charge" | "Discharge" | "Hold") " at " value  |  "Rest"
    value    := number unit | "C/" number       unit: A mA C V mV W mW
    term     := ["<" | ">"] number ("V" | "A" | "mA" | "C")  |  "C/" number

Meanings, as in PyBaMM:
- "Charge"/"Discharge" set the direction. PyBaMM's own sign is positive = discharge; cellbench's
  is positive = charge, so "Charge at 1 A" becomes +1 A here and -1 A inside PyBaMM.
- A C value gives a C-rate step, A a current step, V a voltage hold, W a power step.
- A voltage "until" without `<`/`>` ends a charge when V rises to it and a discharge when V
  falls to it; on a hold or rest PyBaMM would ignore it, so here an operator is required.
- A current or C-rate "until" ends the step when |I| falls below it (the CV end of a hold).
- Without "for", PyBaMM caps the step at 24 h (2/|C| h for a C-rate step); the same cap is
  kept here as a step-time limit so the step behaves the same on hardware and in simulation.
- "(1 second period)" sets the recording interval.
Constant-resistance ("Ohm") steps and temperatures inside the string are not supported.
"""

from __future__ import annotations

import re
from typing import Any

from protocols.units import NUMBER

_STEP_RE = re.compile(
    r"^\s*(?P<instr>charge|discharge|hold|rest)\b"
    r"(?:\s+at\s+(?P<value>.+?))?"
    r"(?:\s+for\s+(?P<dur>.+?))?"
    r"(?:\s+or)?"
    r"(?:\s+until\s+(?P<term>.+?))?"
    r"(?:\s*\((?P<period>[^()]+?)\s+period\))?\s*$",
    re.IGNORECASE,
)
_TERM_RE = re.compile(
    rf"^\s*(?P<op>[<>])?\s*(?:(?P<num>{NUMBER})\s*(?P<unit>mV|V|mA|A|C)|C\s*/\s*(?P<den>{NUMBER}))\s*$"
)
_VALUE_RE = re.compile(
    rf"^\s*(?:(?P<num>{NUMBER})\s*(?P<unit>mA|A|C|mV|V|mW|W|Ohm|ohm|mOhm)|C\s*/\s*(?P<den>{NUMBER}))\s*$"
)


class PybammSyntaxError(ValueError):
    """The string does not follow PyBaMM's step grammar; the message says which part."""


def _duration_text(text: str) -> str:
    t = text.strip()
    m = re.match(rf"^({NUMBER})\s*(seconds?|s|sec|minutes?|m|min|hours?|h|hr)$", t, re.IGNORECASE)
    if not m:
        raise PybammSyntaxError(
            f"'{text}' is not a PyBaMM duration; write e.g. '30 minutes', '1 hour' or '10 s'"
        )
    unit = m.group(2).lower()
    if unit in ("m", "min") or unit.startswith("minute"):
        unit = "min"
    elif unit in ("h", "hr") or unit.startswith("hour"):
        unit = "h"
    else:
        unit = "s"
    return f"{m.group(1)} {unit}"


def parse_step(text: str) -> tuple[str, dict[str, Any]]:
    """A PyBaMM step string as (step type, body) in the protocol's own vocabulary."""
    if "oC" in text or "°C" in text:
        raise PybammSyntaxError(
            "temperatures inside a PyBaMM string are not supported; add a set_temperature step"
        )
    m = _STEP_RE.match(text)
    if not m:
        raise PybammSyntaxError(
            f"'{text}' is not a PyBaMM step; write e.g. 'Discharge at 0.5C until 3.0 V', "
            "'Rest for 1 hour' or 'Hold at 4.3 V until C/50'"
        )
    instr = m.group("instr").lower()
    value, dur, term, period = m.group("value"), m.group("dur"), m.group("term"), m.group("period")
    if not dur and not term:
        raise PybammSyntaxError(f"'{text}' needs 'for <duration>' or 'until <condition>'")
    body: dict[str, Any] = {"label": text.strip()}
    if period:
        body["record"] = {"dt": _duration_text(period)}
    step_type: str
    c_rate: float | None = None
    if instr == "rest":
        if value:
            raise PybammSyntaxError(f"'{text}': a rest takes no 'at' value")
        step_type = "rest"
    else:
        if not value:
            raise PybammSyntaxError(f"'{text}': '{instr.title()}' needs 'at <value>'")
        vm = _VALUE_RE.match(value)
        if not vm:
            raise PybammSyntaxError(
                f"'{value}' is not a PyBaMM value; use a number with A, mA, C, V, mV, W or mW,"
                " or C/<n>"
            )
        unit = vm.group("unit") or "C"
        if vm.group("den") is not None:
            den = float(vm.group("den"))
            if den == 0:
                raise PybammSyntaxError(f"'{value}' divides by zero")
            c_rate = 1.0 / den
            amount = f"C/{vm.group('den')}"
        else:
            amount = f"{vm.group('num')} {unit}" if unit != "C" else f"{vm.group('num')}C"
            if unit == "C":
                c_rate = float(vm.group("num"))
        if unit.lower().endswith("ohm"):
            raise PybammSyntaxError("constant-resistance (Ohm) steps are not supported")
        if instr == "hold":
            if unit not in ("V", "mV"):
                raise PybammSyntaxError(f"'{text}': 'Hold' takes a voltage, e.g. 'Hold at 4.3 V'")
            step_type, body["voltage"] = "cv", amount
        elif unit in ("V", "mV"):
            step_type, body["voltage"] = "cv", amount
        elif unit in ("W", "mW"):
            step_type, body["power"], body["direction"] = "cp", amount, instr
        else:
            step_type, body["current"], body["direction"] = "cc", amount, instr
    if dur:
        body["duration"] = _duration_text(dur)
    else:
        hours = 2.0 / abs(c_rate) if c_rate else 24.0
        body["until"] = [{"step_time": f">= {hours:g} h", "label": "PyBaMM default duration"}]
    if term:
        limits = body.setdefault("until", [])
        for part in re.split(r"\s+or\s+", term.strip()):
            limits.append(_term(part, step_type, body.get("direction")))
    return step_type, body


def _term(text: str, step_type: str, direction: str | None) -> dict[str, Any]:
    tm = _TERM_RE.match(text)
    if not tm:
        raise PybammSyntaxError(
            f"'{text}' is not a PyBaMM termination; use e.g. '3.0 V', '<2.5 V', '50 mA' or 'C/50'"
        )
    op = tm.group("op")
    if tm.group("den") is not None:
        return {"rate": f"< C/{tm.group('den')}"}
    unit = tm.group("unit")
    num = tm.group("num")
    if unit in ("V", "mV"):
        if op is None:
            if direction == "charge":
                op = ">"
            elif direction == "discharge":
                op = "<"
            else:
                raise PybammSyntaxError(
                    f"PyBaMM ignores the voltage termination '{text}' on a {step_type} step unless "
                    "it"
                    " has an operator; write '<{0} {1}' or '>{0} {1}'".format(num, unit)
                )
        return {"voltage": f"{op}= {num} {unit}"}
    if unit == "C":
        if op == ">":
            raise PybammSyntaxError(f"'{text}': a C-rate termination ends when |I| falls below it")
        return {"rate": f"< {num}C"}
    if op == ">":
        raise PybammSyntaxError(f"'{text}': a current termination ends when |I| falls below it")
    return {"current": f"< {num} {unit}"}
