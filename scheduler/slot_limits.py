"""A slot's hard limits as the bench file writes them: with units, and within reason.

A limit may be a number in the unit its key names (`voltage_max_V = 4.4`) or a quantity as
protocols write them (`abs_current_max_A = "20 mA"`, `temperature_max_degC = "60 degC"`),
read by the protocols' own unit parser (`protocols.units`). Once the bench is loaded, each
limit is checked against what the slot's potentiostat can do (its kind's declared current
and voltage ranges, `scheduler.kinds`) and against physical sense, so a unit slip (20 A on a
100 mA instrument, 4400 V, 343.15 "degC", 30e6 "MPa") is one clear sentence, not a limit
that never trips.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.units import CURRENT, PRESSURE, TEMPERATURE, VOLTAGE, Kind, QuantityError, parse
from scheduler import kinds

# key -> (the quantity it holds, the factor from that kind's SI unit to the key's unit)
UNITS: dict[str, tuple[Kind, float]] = {
    "voltage_min_V": (VOLTAGE, 1.0),
    "voltage_max_V": (VOLTAGE, 1.0),
    "abs_current_max_A": (CURRENT, 1.0),
    "temperature_min_degC": (TEMPERATURE, 1.0),
    "temperature_max_degC": (TEMPERATURE, 1.0),
    "pressure_max_MPa": (PRESSURE, 1e-6),
}
# What a battery test bench can mean: a chamber's air, a stack pressure.
TEMPERATURE_RANGE_DEGC = (-100.0, 200.0)
PRESSURE_MAX_MPA = 1000.0


def reader(key: str) -> Callable[[Any], Any]:
    """A validator that reads `key`'s value, a number or a quantity string, in its unit."""
    kind, factor = UNITS[key]

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse(value, (kind,)).value * factor
        except QuantityError as exc:
            raise ValueError(str(exc)) from None

    return read


def limit_problems(bench: Any) -> list[tuple[str, str]]:
    """Hard limits outside the slot potentiostat's ranges or outside physical sense."""
    out: list[tuple[str, str]] = []
    for i, slot in enumerate(bench.slots):
        limits = slot.limits
        where = f"slots[{i}].limits"
        config = bench.instruments.get(slot.potentiostat)
        if config is not None:
            caps = kinds.kind_of(config).capabilities_for(config)
            label = f"{slot.potentiostat} ({kinds.kind_of(config).label})"
            out += _range_problems(where, limits, label, caps)
        out += _sense_problems(where, limits)
    return out


def _range_problems(where: str, limits: Any, name: str, caps: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    amps = limits.abs_current_max_A
    if amps is not None and caps.current_range_A is not None and amps > caps.current_range_A:
        out.append(
            (
                f"{where}.abs_current_max_A",
                f"{amps:g} A is more than {name} can source "
                f'({caps.current_range_A * 1e3:g} mA); write the unit, e.g. "{amps:g} mA"',
            )
        )
    if caps.voltage_range_V is not None:
        low, high = caps.voltage_range_V
        for key in ("voltage_min_V", "voltage_max_V"):
            volts = getattr(limits, key)
            if volts is not None and not low <= volts <= high:
                out.append(
                    (
                        f"{where}.{key}",
                        f"{volts:g} V is outside the {low:g}–{high:g} V that {name} can "
                        f'apply; write the unit, e.g. "{volts:g} mV"',
                    )
                )
    return out


def _sense_problems(where: str, limits: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    low, high = TEMPERATURE_RANGE_DEGC
    for key in ("temperature_min_degC", "temperature_max_degC"):
        value = getattr(limits, key)
        if value is not None and not low <= value <= high:
            hint = f'; if it was meant in kelvin, write "{value:g} K"' if value > high else ""
            out.append(
                (
                    f"{where}.{key}",
                    f"{value:g} °C is beyond what a battery test chamber reaches "
                    f"({low:g} to {high:g} °C){hint}",
                )
            )
    pressure = limits.pressure_max_MPa
    if pressure is not None and pressure > PRESSURE_MAX_MPA:
        out.append(
            (
                f"{where}.pressure_max_MPa",
                f"{pressure:g} MPa is beyond any stack pressure (at most {PRESSURE_MAX_MPA:g} "
                f'MPa); if it was meant in pascals, write "{pressure:g} Pa"',
            )
        )
    return out
