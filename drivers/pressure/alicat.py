"""Alicat PC pressure controller (serial, or TCP through a serial-device server).

Commands end in `\\r` and so does each reply (reference/instruments.md 3.1): `A` polls the data
frame `<id> <pressure> <setpoint> [status…]`; `AS <p>` sets the setpoint and answers with the
frame, whose setpoint must echo the request; `AHC` holds the valve closed, `AHP` holds it where
it is, `AC` cancels a hold. The controller works in its configured engineering unit (PSIG by
default); this driver speaks pascals (gauge) and converts with pint.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Unpack

import pint

from drivers.errors import InstrumentReplyError, InstrumentReportedError
from drivers.transports.line_instrument import LineInstrument, LinkSettings

GAUGE_SUFFIXES = {"PSIG": "psi", "PSIA": "psi", "PSI": "psi"}


@functools.cache
def _registry() -> pint.UnitRegistry:
    return pint.UnitRegistry()


def pascal_per_unit(unit: str) -> float:
    """How many pascals one of the controller's engineering units is (PSIG, kPa, bar…)."""
    name = GAUGE_SUFFIXES.get(unit.upper(), unit)
    try:
        return float(_registry().Quantity(1.0, name).to("Pa").magnitude)
    except (pint.errors.PintError, AttributeError, TypeError) as exc:
        raise InstrumentReplyError(f"Alicat unit {unit!r} is not a pressure unit") from exc


@dataclass(frozen=True)
class AlicatFrame:
    pressure_Pa: float
    setpoint_Pa: float
    status: frozenset[str]

    @property
    def holding(self) -> bool:
        return "HLD" in self.status


class AlicatPC(LineInstrument):
    """One Alicat PC/PCD pressure controller addressed by its unit id."""

    default_name = "Alicat PC"
    default_baudrate = 19200
    default_timeout_s = 1.0
    newline = "\r"
    separator = "\r"

    def __init__(
        self,
        endpoint: str,
        *,
        unit_id: str = "A",
        unit: str = "PSIG",
        full_scale: float = 150.0,
        **link: Unpack[LinkSettings],
    ) -> None:
        if len(unit_id) != 1 or not unit_id.isalpha():
            name = link.get("name", self.default_name)
            raise InstrumentReplyError(f"{name}: unit id {unit_id!r} must be one letter A-Z")
        super().__init__(endpoint, **link)
        self.unit_id = unit_id.upper()
        self.unit = unit
        self.pa_per_unit = pascal_per_unit(unit)
        self.full_scale_Pa = full_scale * self.pa_per_unit

    async def _frame(self, command: str) -> AlicatFrame:
        return self.parse_frame(command, await self.exchange(self.unit_id + command))

    def parse_frame(self, command: str, reply: str) -> AlicatFrame:
        if reply.strip() == "?" or reply.strip().endswith(" ?"):
            raise InstrumentReportedError(
                f"{self.name} rejected {self.unit_id + command!r} (answered '?')", code="?"
            )
        fields = reply.split()
        try:
            if fields[0].upper() != self.unit_id:
                raise ValueError("unit id")
            pressure, setpoint = float(fields[1]), float(fields[2])
        except (ValueError, IndexError) as exc:
            raise InstrumentReplyError(
                f"{self.name} answered {self.unit_id + command!r} with {reply!r}, not a data frame"
            ) from exc
        status = frozenset(f for f in fields[3:] if f.isalpha() and f.isupper())
        return AlicatFrame(pressure * self.pa_per_unit, setpoint * self.pa_per_unit, status)

    # -- commands ----------------------------------------------------------------------------
    async def poll(self) -> AlicatFrame:
        return await self._frame("")

    async def set_pressure(self, pascal: float) -> AlicatFrame:
        """Set the gauge-pressure setpoint; checks that the frame echoes it."""
        if not (math.isfinite(pascal) and 0.0 <= pascal <= self.full_scale_Pa):
            raise InstrumentReplyError(
                f"{self.name}: setpoint {pascal:.0f} Pa is outside 0..{self.full_scale_Pa:.0f} Pa"
            )
        value = pascal / self.pa_per_unit
        frame = await self._frame(f"S {value:.2f}")
        if abs(frame.setpoint_Pa / self.pa_per_unit - value) > 0.011:
            raise InstrumentReplyError(
                f"{self.name} accepted setpoint {frame.setpoint_Pa / self.pa_per_unit:.2f} "
                f"{self.unit} instead of {value:.2f} {self.unit}; is its setpoint source "
                "'Serial/Front Panel'?"
            )
        return frame

    async def hold_closed(self) -> AlicatFrame:
        return await self._frame("HC")

    async def hold_position(self) -> AlicatFrame:
        return await self._frame("HP")

    async def cancel_hold(self) -> AlicatFrame:
        return await self._frame("C")
