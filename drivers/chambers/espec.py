"""ESPEC P-300 / SCP-220 chamber controller over TCP (serial forwarder, port 10001) or serial.

ASCII lines ending `\\r\\n` both ways (reference/instruments.md 2.1). Queries answer with
comma-separated values; set commands with `OK:<echo>`; errors with `NA:<message>`, which this
driver turns into one sentence saying what the controller refused and why. Ramps use the
one-step remote program `RUN PRGM, TEMP<a> GOTEMP<b> TIME<h>:<m>`; the controller ramps on its
own firmware, so a host crash does not stop it.
"""

from __future__ import annotations

import math
from typing import Unpack

from drivers.chamber import ChamberMode, ChamberReading, ChamberSensorError, checked_temperature
from drivers.errors import (
    InstrumentReplyError,
    InstrumentReportedError,
)
from drivers.transports.line_instrument import LineInstrument, LinkSettings

# What each NA: reply means, in the lab's words (ESPEC P-300/SCP-220 communication manual).
NA_MEANINGS = {
    "CMD ERR": "the controller does not know this command",
    "ADDR ERR": "the RS-485 address is wrong or not allowed with this command",
    "PARA ERR": "a parameter is missing or cannot be read",
    "DATA OUT OF RANGE": "a value is outside the range the chamber allows",
    "PROTECT ON": "settings are locked on the chamber's front panel",
    "CONT NOT READY-1": "the chamber has no humidity (or PTCON) control",
    "CONT NOT READY-2": "no program is running",
    "CONT NOT READY-3": "this controller does not support the command",
    "CONT NOT READY-4": "keys cannot be locked while the controller is off",
    "CONT NOT READY-5": "that time signal is not enabled",
    "DATA NOT READY": "the requested program does not exist",
    "INVALID REQ": "the function is not supported",
    "CHB NOT READY": "the chamber could not act on the command",
}
NA_MEANINGS.update(
    {f"PRGM WRITE ERR-{n}": "the program could not be written" for n in range(1, 16)}
)
READING_COMMANDS = ("TEMP?", "MON?")


class EspecChamber(LineInstrument):
    """An ESPEC chamber with a P-300 or SCP-220 controller (temperature only)."""

    supports_ramp = True
    default_name = "ESPEC chamber"
    default_baudrate = 9600
    default_timeout_s = 3.0

    def __init__(
        self, endpoint: str, *, address: int | None = None, **link: Unpack[LinkSettings]
    ) -> None:
        super().__init__(endpoint, **link)
        self.address = address  # RS-485 address, for controllers on a shared bus

    # -- one exchange ----------------------------------------------------------------------
    async def query(self, command: str) -> str:
        """Send one command (with the RS-485 address, if any) and return its reply."""
        reply = await self.exchange(
            command if self.address is None else f"{self.address},{command}"
        )
        if reply.startswith("NA:"):
            code = reply[3:].strip()
            meaning = NA_MEANINGS.get(code, "the controller gave no further reason")
            if command in READING_COMMANDS and code == "CHB NOT READY":
                raise ChamberSensorError(
                    f"{self.name} gave no temperature reading (NA:{code}); "
                    "its sensor has failed or dropped out",
                    code=code,
                )
            raise InstrumentReportedError(
                f"{self.name} refused {command!r}: NA:{code} ({meaning})", code=code
            )
        return reply

    async def command(self, command: str) -> None:
        reply = await self.query(command)
        if not reply.startswith("OK:"):
            raise InstrumentReplyError(
                f"{self.name} answered {command!r} with {reply!r} instead of OK:"
            )

    # -- capability --------------------------------------------------------------------------
    async def identify(self) -> str:
        return await self.query("TYPE?")

    async def read(self) -> ChamberReading:
        fields = (await self.query("TEMP?")).split(",")
        mode_text = (await self.query("MODE?")).strip()
        try:
            pv, sp = float(fields[0]), float(fields[1])
            high = float(fields[2]) if len(fields) > 2 and fields[2] else None
            low = float(fields[3]) if len(fields) > 3 and fields[3] else None
        except (ValueError, IndexError) as exc:
            raise InstrumentReplyError(
                f"{self.name} answered TEMP? with {','.join(fields)!r}, not pv,sp,high,low"
            ) from exc
        return ChamberReading(
            checked_temperature(self.name, pv), sp, _mode(self.name, mode_text), high, low
        )

    async def monitor(self) -> tuple[float, ChamberMode, int]:
        """MON?: temperature, mode and the number of active alarms, in one exchange."""
        fields = (await self.query("MON?")).split(",")
        try:
            return (
                checked_temperature(self.name, float(fields[0])),
                _mode(self.name, fields[2]),
                int(fields[3]),
            )
        except (ValueError, IndexError) as exc:
            raise InstrumentReplyError(
                f"{self.name} answered MON? with {','.join(fields)!r}, not temp,humi,mode,alarms"
            ) from exc

    async def set_temperature(self, degC: float, *, ramp_K_per_min: float | None = None) -> None:
        if not math.isfinite(degC):
            raise InstrumentReplyError(f"{self.name}: setpoint {degC} °C is not a number")
        if ramp_K_per_min is None:
            await self.command(f"TEMP, S{degC:.1f}")
            await self.command("MODE,CONSTANT")
            return
        if not ramp_K_per_min > 0:
            raise InstrumentReplyError(
                f"{self.name}: ramp rate {ramp_K_per_min} K/min must be positive"
            )
        start = (await self.read()).process_degC
        minutes = max(1, math.ceil(abs(degC - start) / ramp_K_per_min))
        hours, minutes = divmod(minutes, 60)
        await self.command(f"TEMP, S{degC:.1f}")  # the constant setpoint once the ramp ends
        await self.command(f"RUN PRGM, TEMP{start:.1f} GOTEMP{degC:.1f} TIME{hours}:{minutes:02d}")

    async def standby(self) -> None:
        await self.command("MODE,STANDBY")


def _mode(name: str, text: str) -> ChamberMode:
    word = text.strip().split(" ")[0].upper()
    if word.startswith("RUN") or word == "RMT":
        return ChamberMode.RUN
    try:
        return ChamberMode(word)
    except ValueError as exc:
        raise InstrumentReplyError(f"{name} reported an unknown mode {text!r}") from exc
