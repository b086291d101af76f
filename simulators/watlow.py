"""Watlow F4T chamber controller simulator: a pymodbus TCP server over the thermal plant.

Loop-1 holding registers (reference/instruments.md 2.2, and the loop map of ESPEC's
ChamberConnectLibrary, MIT, `watlowf4t.py`), 32-bit floats in two registers with the low
word first:

- 2782 setpoint (read/write), 2810 current (ramping) setpoint, 2820 process value;
- 2774/2776 the setpoint range low/high (read/write, within the chamber's own limits);
- 2730 the loop's control mode as the F4T's enumeration (62 off, 10 auto, 54 manual;
  anything else is refused with exception 3) and 2814 the mode in effect now;
- 2784 the manual output power (read/write, -100..100 %, what manual mode applies) and
  2808 the output power now (the controller's effort in auto, the manual power in manual).

A dropped-out sensor reads NaN, as the F4T shows a failed input.

pymodbus 3.16 turns the older ModbusSequentialDataBlock / ModbusDeviceContext datastore into
SimData / SimDevice and logs a deprecation warning for the old classes, so this server builds
a SimDevice directly; its `action` hook refreshes the registers from the plant on every read
and hands every write to the plant.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.clock import PlantFront
from simulators.faults import LINK_FAULTS, check_fault
from simulators.thermal import CHAMBER_FAULTS, ChamberPlant

BASE = 2700
SIZE = 200
REG_MODE = 2730
REG_RANGE_LOW = 2774
REG_RANGE_HIGH = 2776
REG_SETPOINT = 2782
REG_CURRENT_SETPOINT = 2810
REG_PROCESS_VALUE = 2820
REG_CURRENT_MODE = 2814
REG_MANUAL_POWER = 2784
REG_CURRENT_POWER = 2808
MODE_OFF = 62
MODE_AUTO = 10
MODE_MANUAL = 54
PLANT_MODES = {MODE_AUTO: "CONSTANT", MODE_OFF: "STANDBY", MODE_MANUAL: "MANUAL"}
WRITE_CODES = (6, 16, 23)
WRITABLE_FLOATS = {
    r + i for r in (REG_SETPOINT, REG_RANGE_LOW, REG_RANGE_HIGH, REG_MANUAL_POWER) for i in (0, 1)
}


def float_to_registers(value: float) -> list[int]:
    """One float32 as two registers, low word first."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def registers_to_float(registers: list[int]) -> float:
    low, high = registers
    return struct.unpack(">f", struct.pack(">HH", high, low))[0]


@dataclass
class WatlowSimulator(PlantFront):
    """One simulated F4T (loop 1) served over Modbus TCP."""

    FAULTS: ClassVar[tuple[str, ...]] = (*CHAMBER_FAULTS, *LINK_FAULTS)

    plant: ChamberPlant
    device_id: int = 0  # 0 answers every unit id
    writes: list[tuple[int, list[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.range_degC = [self.plant.params.min_degC, self.plant.params.max_degC]
        self._server: ModbusTcpServer | None = None
        self.address: tuple[str, int] | None = None
        self.stalled = False

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        device = SimDevice(
            id=self.device_id,
            simdata=[SimData(BASE, count=SIZE, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self._server = ModbusTcpServer(device, address=(host, port))
        await self._server.serve_forever(background=True)
        sockets = getattr(self._server.transport, "sockets", None) or []
        self.address = sockets[0].getsockname()[:2]
        return self.address

    def drop_connections(self) -> None:
        """Fault: abort every open client connection (the server keeps listening)."""
        if self._server is None:
            return
        for connection in list(self._server.active_connections.values()):
            transport = connection.transport
            if isinstance(transport, asyncio.Transport):
                with contextlib.suppress(Exception):
                    transport.abort()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    # -- faults and state ------------------------------------------------------------------
    def inject(self, fault: str, *, value: Any = None, **_: Any) -> None:
        """A chamber fault (`ChamberPlant.inject`), or drop (abort the connections) or stall
        (answer every request with DEVICE_BUSY)."""
        check_fault(fault, self.FAULTS, "Watlow F4T")
        if fault == "drop":
            self.drop_connections()
        elif fault == "stall":
            self.stalled = True
        else:
            self.plant.inject(fault, value)

    def clear(self) -> None:
        self.plant.clear_faults()
        self.stalled = False

    def state(self) -> dict[str, Any]:
        """The plant's true state; `connections` counts the open ones (Modbus keeps no tally)."""
        server = self._server
        open_now = len(server.active_connections) if server is not None else 0
        return {**self.plant.state(), "connections": open_now}

    def _refresh(self, registers: list[int]) -> None:
        plant = self.plant
        values = {
            REG_SETPOINT: plant.setpoint_degC,
            REG_CURRENT_SETPOINT: plant.current_setpoint(),
            REG_PROCESS_VALUE: plant.measured_degC(),
            REG_RANGE_LOW: self.range_degC[0],
            REG_RANGE_HIGH: self.range_degC[1],
            REG_MANUAL_POWER: plant.manual_power_pct,
            REG_CURRENT_POWER: plant.power_pct,
        }
        for address, value in values.items():
            registers[address - BASE : address - BASE + 2] = float_to_registers(value)
        mode = {"CONSTANT": MODE_AUTO, "RUN": MODE_AUTO, "MANUAL": MODE_MANUAL}
        registers[REG_MODE - BASE] = registers[REG_CURRENT_MODE - BASE] = mode.get(
            plant.mode, MODE_OFF
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.stalled:
            return ExcCodes.DEVICE_BUSY
        self._now()
        self._refresh(registers)
        if function_code not in WRITE_CODES or not set_values:
            return None
        values = [int(v) for v in set_values]
        self.writes.append((address, values))
        after = list(registers)
        offset = address - start_address
        after[offset : offset + len(values)] = values
        touched = set(range(address, address + len(values)))
        if touched & (WRITABLE_FLOATS | {REG_MODE}) != touched:
            return ExcCodes.ILLEGAL_ADDRESS  # read-only registers
        return self._apply(after, touched)

    def _apply(self, after: list[int], touched: set[int]) -> ExcCodes | None:
        """Check every value written, then hand them to the plant (all or none)."""

        def written(register: int) -> float | None:
            if not touched & {register, register + 1}:
                return None
            return registers_to_float(after[register - BASE : register - BASE + 2])

        p = self.plant.params
        low, high = written(REG_RANGE_LOW), written(REG_RANGE_HIGH)
        new_range = [
            self.range_degC[0] if low is None else low,
            self.range_degC[1] if high is None else high,
        ]
        if not (p.min_degC <= new_range[0] < new_range[1] <= p.max_degC):
            return ExcCodes.ILLEGAL_VALUE
        sp, power = written(REG_SETPOINT), written(REG_MANUAL_POWER)
        if sp is not None and not (math.isfinite(sp) and new_range[0] <= sp <= new_range[1]):
            return ExcCodes.ILLEGAL_VALUE
        if power is not None and not (math.isfinite(power) and -100.0 <= power <= 100.0):
            return ExcCodes.ILLEGAL_VALUE
        mode = after[REG_MODE - BASE] if REG_MODE in touched else None
        if mode is not None and mode not in PLANT_MODES:
            return ExcCodes.ILLEGAL_VALUE
        self.range_degC = new_range
        if sp is not None:
            self.plant.set_setpoint(sp)
        if power is not None:
            self.plant.set_manual_power(power)
        if mode is not None:
            self.plant.set_mode(PLANT_MODES[mode])
        return None
