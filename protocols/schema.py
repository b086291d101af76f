"""The shape of a protocol file: which fields each block and step type takes.

pydantic checks structure here (known fields, lists, integers); quantities stay as the text
the technician wrote and are read with their units when the protocol is compiled, because a
value may be a `${parameter}` that only has a value at bind time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SkipValidation,
    ValidationError,
)

from protocols.errors import Problem


def _as_written(value: Any) -> Any:
    return value


# A quantity as the file writes it: text with a unit ("4.3 V vs Li/Li+", "0.5C", "200 mA/g",
# "${rate}") or a bare number where a plain number is meant. pydantic passes it through as
# written: the compiler reads it with `protocols.units.parse` once parameters are
# substituted, and that check names the kind of quantity the field wanted (a voltage, a
# time), which a type error here could not.
_KEEP = PlainSerializer(_as_written, return_type=Any)
QuantityText = Annotated[str | float | int, SkipValidation, _KEEP]
MaybeQuantity = Annotated[str | float | int | None, SkipValidation, _KEEP]
# An `until` entry: "voltage <= 3.0 V" or {voltage: "<= 3.0 V", action: end_loop}.
LimitEntry = Annotated[str | dict[str, Any], SkipValidation, _KEEP]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordBody(_Body):
    dt: MaybeQuantity = None
    dV: MaybeQuantity = None
    dI: MaybeQuantity = None


class SafetyBody(_Body):
    voltage_min: MaybeQuantity = None
    voltage_max: MaybeQuantity = None
    abs_current_max: MaybeQuantity = None
    temperature_min: MaybeQuantity = None
    temperature_max: MaybeQuantity = None
    capacity_max: MaybeQuantity = None
    pressure_min: MaybeQuantity = None
    pressure_max: MaybeQuantity = None


class Common(_Body):
    """Fields every step may carry."""

    label: str = ""
    cycle_type: str | None = None
    tag: str | None = None
    record: RecordBody | None = None
    until: list[LimitEntry] = Field(default_factory=list)
    duration: MaybeQuantity = None
    safety: SafetyBody | None = None


class RestBody(Common):
    pass


class CurrentSetpoint(Common):
    current: MaybeQuantity = None  # A, mA/cm², mA/g or a C-rate
    rate: MaybeQuantity = None  # a C-rate, same as current: 0.5C
    direction: Literal["charge", "discharge"] | None = None


class CCBody(CurrentSetpoint):
    pass


class CVBody(Common):
    voltage: QuantityText
    current_limit: MaybeQuantity = None


class CCCVBody(CurrentSetpoint):
    voltage: QuantityText


class CPBody(Common):
    power: QuantityText
    direction: Literal["charge", "discharge"] | None = None


class PulseTrainBody(CurrentSetpoint):
    pulse: QuantityText
    relax: QuantityText
    relax_until_dV_dt: MaybeQuantity = None
    n_pulses: int = Field(ge=1, le=100_000)


class EISBody(Common):
    mode: Literal["potentiostatic", "galvanostatic", "PEIS", "GEIS", "peis", "geis"] = (
        "potentiostatic"
    )
    f_start: QuantityText
    f_end: QuantityText
    points_per_decade: int = Field(default=10, ge=1, le=100)
    amplitude: QuantityText
    dc_bias: QuantityText = "ocv"
    averages: int = Field(default=1, ge=1, le=100)


class SweepBody(Common):
    start: QuantityText = "ocv"
    vertices: list[QuantityText] = Field(min_length=1)
    end: MaybeQuantity = None
    scan_rate: QuantityText
    cycles: int = Field(default=1, ge=1, le=10_000)


class LSVBody(Common):
    start: QuantityText = "ocv"
    end: QuantityText
    scan_rate: QuantityText


class SetTemperatureBody(Common):
    target: QuantityText
    ramp: MaybeQuantity = None
    tolerance: QuantityText = "0.5 K"
    stable_for: MaybeQuantity = None
    soak: MaybeQuantity = None
    timeout: MaybeQuantity = None


class SetPressureBody(Common):
    target: MaybeQuantity = None
    force: MaybeQuantity = None
    tolerance: QuantityText = "0.5 MPa"
    settle: MaybeQuantity = None
    timeout: MaybeQuantity = None


class WaitBody(Common):
    pass


class AdvanceCycleBody(_Body):
    label: str = ""


class LoopBody(_Body):
    loop_to: str
    count: int = Field(ge=1, le=1_000_000)


class RepeatBody(_Body):
    times: int | None = Field(default=None, ge=1, le=1_000_000)
    steps: list[Any] = Field(min_length=1)
    cycle_type: str | None = None
    label: str = ""


class ForEachBody(_Body):
    over: dict[str, Any]
    times: int | None = Field(default=None, ge=1, le=1_000_000)
    steps: list[Any] = Field(min_length=1)
    cycle_type: str | None = None
    label: str = ""


class PybammBody(Common):
    pybamm: str


class FileBody(_Body):
    """Top level of a protocol file."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    version: int | str = 1
    parameters: dict[str, Any] = Field(default_factory=dict)
    c_rate_basis: MaybeQuantity = None
    record: RecordBody | None = None
    safety: SafetyBody | None = None
    steps: list[Any]
    analyses: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


STEP_BODIES: dict[str, type[_Body]] = {
    "rest": RestBody,
    "ocv": RestBody,
    "cc": CCBody,
    "cv": CVBody,
    "hold": CVBody,
    "cccv": CCCVBody,
    "cp": CPBody,
    "pulse_train": PulseTrainBody,
    "eis": EISBody,
    "sweep": SweepBody,
    "lsv": LSVBody,
    "set_temperature": SetTemperatureBody,
    "set_pressure": SetPressureBody,
    "wait": WaitBody,
    "advance_cycle": AdvanceCycleBody,
    "loop": LoopBody,
    "repeat": RepeatBody,
    "for_each": ForEachBody,
}
FLOW_KEYS = ("tag", "include", "pybamm")
STEP_TYPES = (*STEP_BODIES, *FLOW_KEYS)


def _type_word(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def validation_problems(
    exc: ValidationError,
    model: type[BaseModel],
    file: str,
    path: str,
    line_of: Callable[[str], int | None],
) -> list[Problem]:
    """pydantic errors as one-sentence Problems with paths and what would be valid."""
    out: list[Problem] = []
    for err in exc.errors():
        loc = [str(x) if isinstance(x, str) else f"[{x}]" for x in err["loc"]]
        sub = path
        for part in loc:
            sub = f"{sub}{part}" if part.startswith("[") else (f"{sub}.{part}" if sub else part)
        name = next((x for x in reversed(err["loc"]) if isinstance(x, str)), "")
        kind = err["type"]
        given = err.get("input")
        if kind == "extra_forbidden":
            owner = model
            for step in err["loc"][:-1]:
                field = owner.model_fields.get(str(step)) if isinstance(step, str) else None
                ann = getattr(field, "annotation", None) if field else None
                for cand in getattr(ann, "__args__", (ann,)):
                    if isinstance(cand, type) and issubclass(cand, BaseModel):
                        owner = cand
            valid = ", ".join(owner.model_fields)
            msg = f"unknown field '{name}'; valid fields here are: {valid}"
        elif kind == "missing":
            msg = f"missing required field '{name}'"
        elif kind == "value_error":  # a validator's own sentence, without pydantic's prefix
            text = str(err["msg"]).removeprefix("Value error, ")
            msg = f"'{name}': {text}" if name else text
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            msg = f"'{given}' is not allowed for '{name}'; use {expected}"
        elif kind in ("int_parsing", "int_type", "int_from_float"):
            msg = f"'{name}' must be a whole number, not {_type_word(given)} {given!r}"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            msg = f"'{name}' {err['msg'].lower()} (got {given!r})"
        elif kind in ("too_short",):
            msg = f"'{name}' must not be empty"
        elif kind in ("string_type",):
            msg = f"'{name}' must be text, not {_type_word(given)}"
        elif kind in ("list_type",):
            msg = f"'{name}' must be a list, not {_type_word(given)}"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            msg = f"'{name}' must be a mapping of fields, not {_type_word(given)}"
        else:
            msg = f"'{name}': {err['msg']}"
        out.append(Problem(file, sub, msg, line_of(sub)))
    return out
