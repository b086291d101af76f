"""Mark-10 Series 4/5 force gauge (serial; commands end CR, replies end CRLF).

`?` answers the displayed reading, `4.285 N` (the unit may be missing in "numeric only"
format); errors come back as `*10` illegal command, `*11` not applicable, `*12` invalid
specifier, `*22` value too large (reference/instruments.md 3.2). Readings in lbF, kgF, gF or
ozF are converted to newtons.
"""

from __future__ import annotations

import math
from typing import Unpack

from drivers.errors import InstrumentReplyError, InstrumentReportedError
from drivers.transports.line_instrument import LineInstrument, LinkSettings

ERRORS = {
    "*10": "illegal command",
    "*11": "command not applicable now",
    "*12": "invalid specifier",
    "*21": "value too small",
    "*22": "value too large (beyond the gauge's range)",
}
NEWTONS_PER = {
    "N": 1.0,
    "KN": 1000.0,
    "LBF": 4.4482216152605,
    "KGF": 9.80665,
    "GF": 0.00980665,
    "OZF": 0.27801385095378,
}


class Mark10Gauge(LineInstrument):
    """A Mark-10 force gauge; compression reads positive."""

    default_name = "Mark-10 gauge"
    default_baudrate = 115200
    default_timeout_s = 1.0

    def __init__(
        self, endpoint: str, *, default_unit: str = "N", **link: Unpack[LinkSettings]
    ) -> None:
        super().__init__(endpoint, **link)
        self.default_unit = default_unit  # for readings sent without a unit

    async def query(self, command: str) -> str:
        reply = await self.exchange(command)
        code = reply.strip()
        if code.startswith("*"):
            meaning = ERRORS.get(code, "unknown error")
            raise InstrumentReportedError(
                f"{self.name} answered {command!r} with {code} ({meaning})", code=code
            )
        return reply

    def parse_force(self, reply: str) -> float:
        parts = reply.split()
        try:
            value = float(parts[0])
            unit = parts[1].upper() if len(parts) > 1 else self.default_unit.upper()
            factor = NEWTONS_PER[unit]
        except (ValueError, IndexError, KeyError) as exc:
            raise InstrumentReplyError(
                f"{self.name} sent {reply!r}, not a force reading like '4.285 N'"
            ) from exc
        if not math.isfinite(value):
            raise InstrumentReplyError(f"{self.name} sent a reading that is not a number")
        return value * factor

    async def read_force_N(self) -> float:
        return self.parse_force(await self.query("?"))
