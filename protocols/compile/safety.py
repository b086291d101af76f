"""Safety limits: the protocol's window, a step's tighter one, and setpoints checked against it.

Safety limits are never optional: a protocol that drives the cell must state its voltage
window, and a step may only tighten it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.parameters import BAD, subst
from protocols.compile.quantities import CURRENTS
from protocols.compile.report import Where
from protocols.compile.state import Compilation, Context, LimitProto


@dataclass(frozen=True)
class SafetyField:
    """One key of a safety block: what it accepts, where it lands, the abort it becomes."""

    kinds: tuple[U.Kind, ...]
    attr: str  # the P.Safety attribute
    quantity: P.LimitQuantity  # what a step-level value aborts on
    is_max: bool
    unit: str  # for messages
    reference: bool = False
    positive: bool = False
    nonneg: bool = False

    @property
    def op(self) -> P.Comparison:
        return ">=" if self.is_max else "<="


# In the order a step's own safety limits are listed on the step.
SAFETY_FIELDS: dict[str, SafetyField] = {
    "voltage_max": SafetyField((U.VOLTAGE,), "voltage_max_V", "voltage", True, "V", reference=True),
    "voltage_min": SafetyField(
        (U.VOLTAGE,), "voltage_min_V", "voltage", False, "V", reference=True
    ),
    "abs_current_max": SafetyField(
        CURRENTS, "abs_current_max_A", "abs_current", True, "A", positive=True
    ),
    "temperature_max": SafetyField(
        (U.TEMPERATURE,), "temperature_max_degC", "temperature", True, "°C"
    ),
    "temperature_min": SafetyField(
        (U.TEMPERATURE,), "temperature_min_degC", "temperature", False, "°C"
    ),
    "capacity_max": SafetyField(
        (U.CHARGE,), "capacity_max_Ah", "step_capacity", True, "Ah", positive=True
    ),
    "pressure_max": SafetyField(
        (U.PRESSURE,), "pressure_max_Pa", "pressure", True, "Pa", nonneg=True
    ),
    "pressure_min": SafetyField(
        (U.PRESSURE,), "pressure_min_Pa", "pressure", False, "Pa", nonneg=True
    ),
}


@dataclass(frozen=True)
class Window:
    """A safety window a setpoint must lie in, and how its bounds are shown."""

    low: str  # P.Safety attributes
    high: str
    tolerance: float
    scale: float  # shown value = bound / scale
    unit: str


WINDOWS: dict[str, Window] = {
    "voltage": Window("voltage_min_V", "voltage_max_V", 1e-9, 1.0, "V"),
    "temperature": Window("temperature_min_degC", "temperature_max_degC", 0.0, 1.0, "°C"),
    "pressure": Window("pressure_min_Pa", "pressure_max_Pa", 0.0, 1e6, "MPa"),
}


def safety_values(
    c: Compilation, body: S.SafetyBody, where: Where, env: dict[str, Any]
) -> dict[str, float]:
    """The block's values in SI (voltages as cell voltages); a C-rate current also as `_c`."""
    raw = subst(body.model_dump(), where, env, c)
    out: dict[str, float] = {}
    if raw is BAD:
        return out
    for key in S.SafetyBody.model_fields:  # the order the file schema lists them
        if raw[key] is None:
            continue
        spec = SAFETY_FIELDS[key]
        w = where.at(key)
        v = c.units.q(
            raw[key],
            spec.kinds,
            w,
            reference=spec.reference,
            positive=spec.positive,
            nonneg=spec.nonneg,
        )
        if v is None:
            continue
        if spec.reference:
            out[key] = c.units.cell_v(v)
        elif key == "abs_current_max":
            if v.kind is U.C_RATE:
                out["abs_current_max_c"] = v.value
            one_c_known = c.units.one_c_A or v.kind is not U.C_RATE
            amps = c.units.amps(v, w) if one_c_known else math.nan
            if math.isfinite(amps):
                out[key] = amps
        else:
            out[key] = v.value
    for hi, spec in SAFETY_FIELDS.items():
        lo = hi.replace("_max", "_min")
        if spec.is_max and lo in SAFETY_FIELDS and lo in out and hi in out:
            if not out[lo] < out[hi]:
                c.fail(where.at(hi), f"{hi} must be above {lo}")
    return out


def read_safety(c: Compilation, top: Where) -> None:
    """The protocol's own safety block."""
    if c.body.safety is None:
        return
    vals = safety_values(c, c.body.safety, top.at("safety"), c.env)
    c.safety_current_c = vals.pop("abs_current_max_c", None)
    c.safety = P.Safety(**{spec.attr: vals.get(key) for key, spec in SAFETY_FIELDS.items()})


def step_safety(c: Compilation, body: S.SafetyBody, w: Where, ctx: Context) -> list[LimitProto]:
    """A step's own safety block as abort limits; each may only tighten the protocol's."""
    vals = safety_values(c, body, w, ctx.env)
    vals.pop("abs_current_max_c", None)
    out: list[LimitProto] = []
    for key, spec in SAFETY_FIELDS.items():
        if key not in vals:
            continue
        value = vals[key]
        glob = getattr(c.safety, spec.attr)
        if glob is not None and (
            (spec.is_max and value > glob + 1e-12) or (not spec.is_max and value < glob - 1e-12)
        ):
            c.fail(
                w.at(key),
                f"the step's {key} {value:g} {spec.unit} is looser than the protocol's {glob:g} "
                f"{spec.unit}; a step may only tighten safety limits",
            )
            continue
        limit = P.Limit(spec.quantity, spec.op, value, action="abort", label=f"step safety {key}")
        out.append(LimitProto(limit, w.at(key), ctx.scope))
    return out


def check_required(c: Compilation, top: Where) -> None:
    """The limits a protocol must state for what its steps do; a missing current is derived."""
    w = top.at("safety") if c.body.safety is not None else top
    where_text = "its safety block" if c.body.safety is not None else "it has no safety block and"
    s = c.safety
    electrical = c.has_kinds & {"cc", "cv", "cccv", "cp", "pulse_train", "sweep", "eis_geis"}
    if electrical or "eis" in c.has_kinds:
        for name, value in (("voltage_min", s.voltage_min_V), ("voltage_max", s.voltage_max_V)):
            if value is None:
                c.fail(
                    w,
                    f"the protocol drives the cell but {where_text} sets no {name}; safety "
                    "limits are never optional",
                )
    if electrical and s.abs_current_max_A is None and c.safety_current_c is None:
        if c.body.safety is None or c.body.safety.abs_current_max is None:
            _derive_current(c)
    if "set_temperature" in c.has_kinds and s.temperature_max_degC is None:
        c.fail(w, f"the protocol sets temperatures but {where_text} sets no temperature_max")
    if "set_pressure" in c.has_kinds and s.pressure_max_Pa is None:
        c.fail(w, f"the protocol sets a stack pressure but {where_text} sets no pressure_max")


def _derive_current(c: Compilation) -> None:
    """No abs_current_max given: use 1.5 × the largest step current, and say so."""
    amps = [
        abs(p.fields.get(k, math.nan))
        for p in c.protos
        for k in ("current_A", "pulse_current_A")
        if k in p.fields
    ]
    rates = [abs(p.fields["c_rate"]) for p in c.protos if p.fields.get("c_rate") is not None]
    finite = [a for a in amps if math.isfinite(a)]
    if finite and len(finite) == len(amps):
        limit = 1.5 * max(finite)
        c.safety = dataclasses.replace(c.safety, abs_current_max_A=limit)
        c.notes.append(
            "safety abs_current_max not given: set to 1.5 × the largest step current = "
            f"{U.format_si(limit, 'A')}"
        )
    elif rates:
        c.safety_current_c = 1.5 * max(rates)
        c.notes.append(
            "safety abs_current_max not given: set to 1.5 × the largest step rate = "
            f"{c.safety_current_c:g}C"
        )


def check_current(c: Compilation, amps: float, c_rate: float | None, w: Where) -> None:
    """A step current above abs_current_max would trip the safety limit at once."""
    s_max = c.safety.abs_current_max_A
    if s_max is not None and math.isfinite(amps) and abs(amps) > s_max * (1 + 1e-9):
        c.fail(
            w,
            f"the current {U.format_si(abs(amps), 'A')} exceeds the safety abs_current_max "
            f"{U.format_si(s_max, 'A')}, so the safety limit would trip at once",
        )
    elif (
        c.safety_current_c is not None
        and c_rate is not None
        and abs(c_rate) > c.safety_current_c * (1 + 1e-9)
    ):
        c.fail(
            w,
            f"the rate {abs(c_rate):g}C exceeds the safety abs_current_max "
            f"{c.safety_current_c:g}C, so the safety limit would trip at once",
        )


def check_in_window(c: Compilation, quantity: str, value: float, subject: str, w: Where) -> None:
    """A setpoint (voltage, chamber temperature, stack pressure) outside the safety window."""
    window = WINDOWS[quantity]
    high = getattr(c.safety, window.high)
    low = getattr(c.safety, window.low)
    if high is not None and value > high + window.tolerance:
        shown = high / window.scale
        c.fail(w, f"{subject} is above the safety {quantity}_max {shown:g} {window.unit}")
    if low is not None and value < low - window.tolerance:
        shown = low / window.scale
        c.fail(w, f"{subject} is below the safety {quantity}_min {shown:g} {window.unit}")
