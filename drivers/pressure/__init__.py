"""The stack-pressure capability the scheduler programs against, and its errors.

A rig holds a stack pressure (MPa) on a given cell area using force feedback, reports force
and pressure, and releases. (This lives in the package's `__init__` because the instrument
drivers sit in the same package: `drivers.pressure.alicat`, `.mark10`, `.rig`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from drivers.errors import InstrumentError


@dataclass(frozen=True)
class PressureReading:
    """One look at the rig."""

    force_N: float
    pressure_MPa: float  # force / cell area
    target_MPa: float | None  # None when released
    gas_Pa: float | None = None  # actuator pressure, where the rig has one
    holding: bool = False


class PressureRigError(InstrumentError):
    """The rig cannot keep the stack pressure the protocol asked for."""


class GasLeakError(PressureRigError):
    """The actuator's gas pressure stays below what its controller is asked for."""


class ForceLostError(PressureRigError):
    """The force is far below target while the actuator is already at its limit."""


class OverForceError(PressureRigError):
    """The force passed the rig's limit; the interlock vented the actuator."""


class LoadCellDriftError(PressureRigError):
    """The load cell disagrees with the force the actuator must be giving."""


@runtime_checkable
class PressureRig(Protocol):
    """What the scheduler needs from any stack-pressure rig."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def hold(self, pressure_MPa: float, *, area_mm2: float) -> None:
        """Start (or retarget) holding `pressure_MPa` on a cell of `area_mm2`; returns at once."""
        ...

    async def read(self) -> PressureReading:
        """Read force and pressure; raises the rig's latched fault, if any."""
        ...

    async def release(self) -> None:
        """Stop holding and bring the force to zero."""
        ...


__all__ = [
    "ForceLostError",
    "GasLeakError",
    "LoadCellDriftError",
    "OverForceError",
    "PressureReading",
    "PressureRig",
    "PressureRigError",
]
