"""The temperature-chamber capability the scheduler programs against.

A chamber takes a setpoint (optionally reached along a ramp), reports its process value,
setpoint and mode, and goes to standby. Drivers whose controller cannot ramp on its own
say so with `supports_ramp = False`; the scheduler then ramps host-side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from drivers.errors import InstrumentError, InstrumentReportedError


class ChamberMode(StrEnum):
    OFF = "OFF"
    STANDBY = "STANDBY"
    CONSTANT = "CONSTANT"
    RUN = "RUN"  # running a (ramp) program


@dataclass(frozen=True)
class ChamberReading:
    """One look at the chamber: process value (air), setpoint now, and mode."""

    process_degC: float
    setpoint_degC: float
    mode: ChamberMode
    high_limit_degC: float | None = None
    low_limit_degC: float | None = None
    alarms: int = 0


class ChamberError(InstrumentError):
    """The chamber failed in a way the lab must look at."""


class ChamberSensorError(ChamberError, InstrumentReportedError):
    """The chamber's temperature sensor gave no valid reading (dropout, broken wire)."""


@runtime_checkable
class TemperatureChamber(Protocol):
    """What the scheduler needs from any temperature chamber."""

    name: str
    supports_ramp: bool

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def set_temperature(self, degC: float, *, ramp_K_per_min: float | None = None) -> None:
        """Control the air to `degC`; with a ramp rate, move the setpoint there at that rate."""
        ...

    async def read(self) -> ChamberReading: ...

    async def standby(self) -> None:
        """Stop controlling (no heating, no cooling); the chamber stays powered."""
        ...


def checked_temperature(name: str, value: float) -> float:
    """Return a process value, or raise ChamberSensorError when it is not a number."""
    if not math.isfinite(value):
        raise ChamberSensorError(
            f"{name} reports no valid air temperature ({value}); its sensor has dropped out",
            code="sensor",
        )
    return value
