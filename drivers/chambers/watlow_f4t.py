"""Watlow F4T chamber controller over Modbus TCP (pymodbus, pinned 3.16.1).

Loop-N holding registers (reference/instruments.md 2.2; stride 160 per loop): setpoint
2782, current (ramping) setpoint 2810, process value 2820, range low/high 2774/2776, control
mode 2730 (10 auto, 62 off). Floats span two registers, low word first. This driver does not
use the F4T's ramp registers, so it says `supports_ramp = False` and the scheduler ramps the
setpoint host-side.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Unpack
from urllib.parse import urlparse

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from drivers.chamber import ChamberMode, ChamberReading, checked_temperature
from drivers.context import AsyncContext
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentReplyError,
    InstrumentReportedError,
)
from drivers.retry import backoff
from drivers.transports.link import Link, LinkSettings

LOOP_STRIDE = 160
REG_MODE = 2730
REG_RANGE_LOW = 2774
REG_SETPOINT = 2782
REG_CURRENT_SETPOINT = 2810
REG_PROCESS_VALUE = 2820
MODE_AUTO = 10
MODE_OFF = 62
LINK: LinkSettings = {"name": "Watlow F4T", "timeout_s": 3.0}
LINK_ERRORS = (ModbusException, OSError, InstrumentConnectionError)


def parse_modbus_endpoint(text: str) -> tuple[str, int]:
    """`tcp://host:port`, `modbus://host:port` or `host:port` (port 502 if left out)."""
    raw = text.strip()
    parsed = urlparse(raw if "://" in raw else f"tcp://{raw}")
    if parsed.scheme not in ("tcp", "modbus") or not parsed.hostname:
        raise InstrumentConnectionError(
            f"Modbus endpoint {text!r} is not tcp://host:port or host:port"
        )
    return parsed.hostname, parsed.port or 502


class WatlowF4T(AsyncContext):
    """One control loop of a Watlow F4T."""

    supports_ramp = False

    def __init__(
        self, endpoint: str, *, loop: int = 1, device_id: int = 1, **link: Unpack[LinkSettings]
    ) -> None:
        settings: LinkSettings = {**LINK, **link}
        self.link = Link(**settings)
        self.name = self.link.name
        if loop < 1:
            raise InstrumentConnectionError(f"{self.name}: loop {loop} must be 1 or more")
        self.host, self.port = parse_modbus_endpoint(endpoint)
        self.device_id = device_id
        self.offset = (loop - 1) * LOOP_STRIDE
        self.client = AsyncModbusTcpClient(
            self.host, port=self.port, timeout=self.link.timeout_s, retries=0, reconnect_delay=0
        )

    async def open(self) -> None:
        if not await self.client.connect():
            raise InstrumentConnectionError(
                f"cannot connect to {self.name} at {self.host}:{self.port}"
            )

    async def close(self) -> None:
        self.client.close()

    # -- registers ---------------------------------------------------------------------------
    async def _call(self, what: str, make: Callable[[], Awaitable[ModbusPDU]]) -> ModbusPDU:
        """Run one request; after a lost connection reconnect once and repeat it."""

        async def attempt() -> ModbusPDU:
            try:
                if not self.client.connected:
                    await self.open()
                return await make()
            except LINK_ERRORS:
                self.client.close()  # the next try (or the next request) dials afresh
                raise

        try:
            response: ModbusPDU = await backoff(
                f"{what} on {self.name}", retry_on=LINK_ERRORS, attempts=2, first_delay_s=0.0
            )(attempt)
        except LINK_ERRORS as exc:
            raise InstrumentConnectionError(
                f"lost the connection to {self.name} at {self.host}:{self.port} while {what}: {exc}"
            ) from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            raise InstrumentReportedError(
                f"{self.name} refused {what} (Modbus exception {code})", code=str(code)
            )
        return response

    async def _read_float(self, register: int) -> float:
        address = register + self.offset
        response = await self._call(
            f"a read of register {address}",
            lambda: self.client.read_holding_registers(address, count=2, device_id=self.device_id),
        )
        value = self.client.convert_from_registers(
            response.registers, self.client.DATATYPE.FLOAT32, word_order="little"
        )
        if not isinstance(value, float):
            raise InstrumentReplyError(
                f"{self.name} answered a read of register {address} with {value!r}, not a float"
            )
        return value

    async def _write_float(self, register: int, value: float) -> None:
        address = register + self.offset
        words = self.client.convert_to_registers(
            float(value), self.client.DATATYPE.FLOAT32, word_order="little"
        )
        await self._call(
            f"a write of {value:g} to register {address}",
            lambda: self.client.write_registers(address, words, device_id=self.device_id),
        )

    async def _write_int(self, register: int, value: int) -> None:
        address = register + self.offset
        await self._call(
            f"a write of {value} to register {address}",
            lambda: self.client.write_registers(address, [value], device_id=self.device_id),
        )

    # -- capability ----------------------------------------------------------------------------
    async def read(self) -> ChamberReading:
        pv = await self._read_float(REG_PROCESS_VALUE)
        sp = await self._read_float(REG_CURRENT_SETPOINT)
        address = REG_MODE + self.offset
        response = await self._call(
            f"a read of register {address}",
            lambda: self.client.read_holding_registers(address, count=1, device_id=self.device_id),
        )
        mode = ChamberMode.CONSTANT if response.registers[0] == MODE_AUTO else ChamberMode.STANDBY
        return ChamberReading(checked_temperature(self.name, pv), sp, mode)

    async def set_temperature(self, degC: float, *, ramp_K_per_min: float | None = None) -> None:
        if not math.isfinite(degC):
            raise InstrumentReplyError(f"{self.name}: setpoint {degC} °C is not a number")
        if ramp_K_per_min is not None:
            raise InstrumentReplyError(
                f"{self.name} does not ramp on its own; ramp host-side (supports_ramp is False)"
            )
        await self._write_float(REG_SETPOINT, degC)
        await self._write_int(REG_MODE, MODE_AUTO)

    async def standby(self) -> None:
        await self._write_int(REG_MODE, MODE_OFF)
