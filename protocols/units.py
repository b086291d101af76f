"""Quantities with units, as protocol files write them ("0.5C", "4.3 V vs Li/Li+", "200 mA/g").

pint does the unit algebra. Two things are ours: a bare `C` is always a C-rate (never the
coulomb), and a voltage may carry a reference electrode after `vs`. Unit expressions are
checked against a small grammar before pint sees them, so a file cannot make the parser do
unbounded work (e.g. `m**9**9**9`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pint

ureg: pint.UnitRegistry = pint.UnitRegistry(
    autoconvert_offset_to_baseunit=False, on_redefinition="ignore"
)
ureg.define("@alias degree_Celsius = oC = ºC")
ureg.define("@alias hour = hr = hrs")

NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?"
_NUM_RE = re.compile(rf"^\s*({NUMBER})\s*(.*?)\s*$")
_CRATE_RE = re.compile(rf"^\s*({NUMBER})?\s*C\s*$")
_CRATE_DIV_RE = re.compile(rf"^\s*({NUMBER})?\s*C\s*/\s*({NUMBER})\s*$")
_VS_RE = re.compile(r"^(.*?)\s+vs\.?\s+(.+?)\s*$", re.IGNORECASE)
_UNIT_WORD = r"(?:[A-Za-zµμΩ°º%]+(?:(?:\^|\*\*)-?\d{1,2}|[23²³])?)"
_UNIT_RE = re.compile(rf"^{_UNIT_WORD}(?:\s*(?:/|\*|·|\s)\s*{_UNIT_WORD})*$")

# Reference electrodes and their potential vs Li/Li+ (V). "cell" means the measured cell voltage.
REFERENCES: dict[str, float | None] = {
    "cell": None,
    "li/li+": 0.0,
    "li+/li": 0.0,
    "li": 0.0,
    "li-in": 0.62,
    "liin": 0.62,
    "in-li": 0.62,
    "li-in/li+": 0.62,
}
COUNTER_ELECTRODES: dict[str, float] = {"li": 0.0, "li-in": 0.62, "liin": 0.62, "in-li": 0.62}


class QuantityError(ValueError):
    """A quantity string that cannot be read or has the wrong dimension; the message says why."""


@dataclass(frozen=True)
class Kind:
    """A family of quantities a field accepts, with the SI unit values are stored in."""

    name: str
    unit: str  # pint unit the value is converted to
    describe: str  # for messages: "a time", "a voltage"
    example: str


TIME = Kind("time", "s", "a time", "10 min")
VOLTAGE = Kind("voltage", "V", "a voltage", "4.3 V")
CURRENT = Kind("current", "A", "a current", "1.5 mA")
CURRENT_DENSITY = Kind("current_density", "A/cm**2", "a current density", "0.5 mA/cm2")
SPECIFIC_CURRENT = Kind("specific_current", "A/g", "a specific current", "20 mA/g")
CHARGE = Kind("charge", "A*h", "a capacity", "2 mAh")
AREAL_CHARGE = Kind("areal_charge", "A*h/cm**2", "an areal capacity", "2 mAh/cm2")
SPECIFIC_CHARGE = Kind("specific_charge", "A*h/g", "a specific capacity", "200 mAh/g")
FREQUENCY = Kind("frequency", "Hz", "a frequency", "1 MHz")
TEMPERATURE = Kind("temperature", "degC", "a temperature", "60 degC")
DELTA_T = Kind("delta_temperature", "K", "a temperature difference", "0.5 K")
RAMP = Kind("ramp", "K/min", "a temperature ramp rate", "2 K/min")
PRESSURE = Kind("pressure", "Pa", "a pressure", "15 MPa")
FORCE = Kind("force", "N", "a force", "1178 N")
POWER = Kind("power", "W", "a power", "10 mW")
DVDT = Kind("dV_dt", "V/s", "a voltage rate", "1 mV/h")
DIDT = Kind("dI_dt", "A/s", "a current rate", "1 mA/min")
SCAN_RATE = Kind("scan_rate", "V/s", "a scan rate", "0.1 mV/s")
NUMBER_KIND = Kind("number", "", "a plain number", "5")
C_RATE = Kind("c_rate", "", "a C-rate", "0.5C")

ALL_KINDS = {
    k.name: k
    for k in (
        TIME,
        VOLTAGE,
        CURRENT,
        CURRENT_DENSITY,
        SPECIFIC_CURRENT,
        CHARGE,
        AREAL_CHARGE,
        SPECIFIC_CHARGE,
        FREQUENCY,
        TEMPERATURE,
        DELTA_T,
        RAMP,
        PRESSURE,
        FORCE,
        POWER,
        DVDT,
        DIDT,
        NUMBER_KIND,
    )
}


@dataclass(frozen=True)
class Value:
    """A parsed quantity: `value` in the kind's unit (C-rates as the multiple of 1C)."""

    value: float
    kind: Kind
    text: str
    reference: str | None = None  # for voltages: "li/li+", "li-in", ... ; None = cell voltage

    @property
    def is_c_rate(self) -> bool:
        return self.kind is C_RATE


@lru_cache(maxsize=512)
def _dimensionality(unit: str) -> str:
    return str(ureg.parse_units(unit).dimensionality)


@lru_cache(maxsize=64)
def _kind_dim(unit: str) -> str:
    if not unit:
        return "dimensionless"
    return str(ureg.parse_units(unit).dimensionality)


def _clean_unit(unit: str) -> str:
    unit = unit.replace("²", "**2").replace("³", "**3").replace("^", "**").replace("·", "*")
    unit = unit.replace("µ", "u").replace("μ", "u").replace("º", "°").replace("Ω", "ohm")
    unit = re.sub(r"([A-Za-z])([23])\b", r"\1**\2", unit)
    unit = re.sub(r"\bmAh\b", "mA*h", unit)
    unit = re.sub(r"\bAh\b", "A*h", unit)
    unit = re.sub(r"\bmWh\b", "mW*h", unit)
    unit = re.sub(r"\bWh\b", "W*h", unit)
    return unit.replace("°C", "degC").replace("°F", "degF")


def _kinds_text(kinds: tuple[Kind, ...]) -> str:
    names = [f"{k.describe} (e.g. '{k.example}')" for k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def parse(raw: object, kinds: tuple[Kind, ...], *, allow_reference: bool = False) -> Value:
    """Read `raw` (a string like '0.5C' or a bare number) as one of `kinds`.

    A bare number is accepted only where a plain number is one of the kinds, or as the
    value in the first kind's unit when that kind is a number; otherwise the unit is required
    so nobody has to guess whether 4.3 means volts or millivolts.
    """
    if isinstance(raw, bool) or raw is None or not isinstance(raw, str | int | float):
        raise QuantityError(f"expected {_kinds_text(kinds)}, not {type(raw).__name__} {raw!r}")
    if isinstance(raw, int | float):
        if any(k is NUMBER_KIND for k in kinds) and math.isfinite(raw):
            return Value(float(raw), NUMBER_KIND, str(raw))
        raise QuantityError(f"{raw!r} has no unit; expected {_kinds_text(kinds)}")
    text = raw.strip()
    if len(text) > 120:
        raise QuantityError(f"'{text[:40]}…' is too long to be a quantity")
    text, reference = _split_reference(text, allow_reference)
    if C_RATE in kinds:
        rate = _c_rate(text)
        if rate is not None:
            return Value(rate, C_RATE, raw.strip())
    m = _NUM_RE.match(text)
    if not m:
        raise QuantityError(f"'{text}' is not a number with a unit; expected {_kinds_text(kinds)}")
    number = float(m.group(1))
    if not math.isfinite(number):
        raise QuantityError(f"'{text}' is not a finite number")
    unit = m.group(2)
    if not unit:
        if any(k is NUMBER_KIND for k in kinds):
            return Value(number, NUMBER_KIND, text)
        raise QuantityError(f"'{text}' has no unit; expected {_kinds_text(kinds)}")
    cleaned, dim = _unit_dimension(text, unit, kinds)
    for kind in kinds:
        if kind is not C_RATE and dim == _kind_dim(kind.unit):
            converted = _convert(number, cleaned, kind, text)
            if reference is not None and kind is not VOLTAGE:
                raise QuantityError(f"'{raw}' names a reference electrode but is not a voltage")
            return Value(converted, kind, raw.strip(), reference)
    if unit.strip() == "C" or unit.strip().startswith("C/"):
        raise QuantityError(f"'{text}' is a C-rate, but this field needs {_kinds_text(kinds)}")
    got = _describe_dim(dim)
    raise QuantityError(f"'{text}' is {got}, but this field needs {_kinds_text(kinds)}")


def _split_reference(text: str, allow_reference: bool) -> tuple[str, str | None]:
    """(the quantity, its reference electrode key) from '4.3 V vs Li/Li+'; None: the cell."""
    vs = _VS_RE.match(text)
    if not vs:
        return text, None
    if not allow_reference:
        raise QuantityError(f"'{text}' names a reference electrode, which only voltages can have")
    ref = vs.group(2).strip()
    key = ref.lower().replace(" ", "")
    if key not in REFERENCES:
        raise QuantityError(
            f"unknown reference electrode '{ref}'; known: Li/Li+, Li-In (0.62 V vs Li/Li+), cell"
        )
    return vs.group(1).strip(), None if REFERENCES[key] is None else key


def _c_rate(text: str) -> float | None:
    """The multiple of 1C that '0.5C', 'C' or 'C/10' stands for; None if `text` is no C-rate."""
    m = _CRATE_RE.match(text)
    d = _CRATE_DIV_RE.match(text)
    if m:
        rate = float(m.group(1)) if m.group(1) else 1.0
    elif d:
        num = float(d.group(1)) if d.group(1) else 1.0
        den = float(d.group(2))
        if den == 0:
            raise QuantityError(f"'{text}' divides by zero")
        rate = num / den
    else:
        return None
    if not math.isfinite(rate):
        raise QuantityError(f"'{text}' is not a finite C-rate")
    return rate


def _unit_dimension(text: str, unit: str, kinds: tuple[Kind, ...]) -> tuple[str, str]:
    """(the unit as pint writes it, its dimensionality), checked against the grammar first."""
    if not _UNIT_RE.match(unit):
        raise QuantityError(f"'{unit}' in '{text}' is not a unit; expected {_kinds_text(kinds)}")
    cleaned = _clean_unit(unit)
    try:
        return cleaned, _dimensionality(cleaned)
    except Exception as exc:  # pint raises several types for unknown or malformed units
        if re.fullmatch(r"[\d.]*\s*C\b.*", unit) and C_RATE not in kinds:
            raise QuantityError(
                f"'{text}' is a C-rate, but this field needs {_kinds_text(kinds)}"
            ) from exc
        raise QuantityError(
            f"unknown unit '{unit}' in '{text}'; expected {_kinds_text(kinds)}"
        ) from exc


def _convert(number: float, unit: str, kind: Kind, text: str) -> float:
    """`number` `unit` in the kind's unit (a temperature difference stays a difference)."""
    q = ureg.Quantity(number, unit)
    try:
        if kind is DELTA_T and str(q.units) in ("degree_Celsius", "degree_Fahrenheit"):
            q = ureg.Quantity(number, "delta_degC" if "Celsius" in str(q.units) else "delta_degF")
        converted = float(q.to(kind.unit).magnitude) if kind.unit else float(q.to("").magnitude)
    except Exception as exc:
        raise QuantityError(f"'{text}' cannot be converted to {kind.unit}") from exc
    if not math.isfinite(converted):
        raise QuantityError(f"'{text}' is out of range")
    return converted


def _describe_dim(dim: str) -> str:
    for kind in ALL_KINDS.values():
        if kind.name in ("delta_temperature", "scan_rate"):
            continue
        if _kind_dim(kind.unit) == dim:
            return kind.describe
    plain = {
        "[length]": "a length",
        "[mass]": "a mass",
        "[length] ** 2": "an area",
        "[length] ** 3": "a volume",
        "dimensionless": "a plain number",
    }
    return plain.get(dim, f"a quantity of dimension {dim}")


def reference_potential(reference: str | None) -> float | None:
    """Potential of a named reference electrode vs Li/Li+ (None for plain cell voltage)."""
    if reference is None:
        return None
    return REFERENCES[reference]


def format_si(value: float, unit: str) -> str:
    """Short engineering notation for display: 0.0017 A -> '1.7 mA'."""
    if value is None or not math.isfinite(value):
        return "?"
    if value == 0:
        return f"0 {unit}"
    mag = abs(value)
    for factor, prefix in ((1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if mag >= factor * 0.9999:
            return f"{value / factor:.4g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def format_duration(seconds: float | None) -> str:
    """'3 d 4 h', '12 min', '45 s'."""
    if seconds is None or not math.isfinite(seconds):
        return "unbounded"
    s = float(seconds)
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 172800:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:.3g} d"
