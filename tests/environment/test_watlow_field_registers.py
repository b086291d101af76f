"""The Watlow F4T of `cellbench sim`, read and written with plain pymodbus at the loop-1
register addresses that ESPEC's ChamberConnectLibrary (MIT, `watlowf4t.py`) uses:

2730 control mode and 2814 the mode in effect (the F4T's enumeration: 10 auto, 54 manual,
62 off, each looked up in that library's value table), 2782/2810 setpoint and current
setpoint, 2820 process value, 2774/2776 range, 2784 manual power and 2808 the output power
now. Floats are two registers, low word first, decoded here as that library does
(`struct.pack('HH', low, high)` read as a float), independently of the simulator's code.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient
from served_bench import ServedBench, served

from simulators.thermal import ThermalParams

BENCH = """
[bench]
name = "field-f4t"

[instruments.smu]
kind = "keithley2450"
endpoint = "TCPIP0::127.0.0.1::0::SOCKET"

[instruments.f4t]
kind = "watlow-f4t"
endpoint = "127.0.0.1:0"

[[slots]]
name = "S1"
potentiostat = "smu"
chamber = "f4t"

[simulation]
time_scale = 5000.0
start_degC = 25.0
"""
# ChamberConnectLibrary's table entries for the loop modes it reads at 2730 and 2814.
LIBRARY_MODES = {10: "auto", 54: "manual", 62: "off"}
MODE, CURRENT_MODE = 2730, 2814
SETPOINT, CURRENT_SETPOINT, PROCESS_VALUE = 2782, 2810, 2820
RANGE_LOW, RANGE_HIGH = 2774, 2776
MANUAL_POWER, CURRENT_POWER = 2784, 2808
ILLEGAL_DATA_VALUE = 3


def to_float(low: int, high: int) -> float:
    return struct.unpack("<f", struct.pack("<HH", low, high))[0]


def to_registers(value: float) -> list[int]:
    return list(struct.unpack("<HH", struct.pack("<f", value)))


class F4T:
    """The few Modbus reads and writes a ChamberConnectLibrary-style client makes."""

    def __init__(self, client: ModbusTcpClient) -> None:
        self.client = client

    def read_int(self, register: int) -> int:
        response = self.client.read_holding_registers(register, count=1)
        assert not response.isError(), response
        return int(response.registers[0])

    def read_float(self, register: int) -> float:
        response = self.client.read_holding_registers(register, count=2)
        assert not response.isError(), response
        return to_float(*response.registers)

    def write_int(self, register: int, value: int) -> int | None:
        """Write one register; the exception code if the controller refused it."""
        response = self.client.write_register(register, value)
        return response.exception_code if response.isError() else None

    def write_float(self, register: int, value: float) -> int | None:
        response = self.client.write_registers(register, to_registers(value))
        return response.exception_code if response.isError() else None


@pytest.fixture
def f4t() -> Iterator[tuple[ServedBench, F4T]]:
    with served(BENCH) as bench:
        host, port = bench.endpoint("f4t").rsplit(":", 1)
        client = ModbusTcpClient(host, port=int(port), timeout=2)
        assert client.connect()
        try:
            yield bench, F4T(client)
        finally:
            client.close()


def air(bench: ServedBench) -> tuple[float, float]:
    """(simulated time, true air temperature) of the chamber."""
    state = bench.state()
    return state["time_s"], state["chambers"]["f4t"]["air_degC"]


def test_the_mode_registers_hold_values_the_librarys_table_knows(f4t) -> None:
    _, chamber = f4t
    assert chamber.read_int(CURRENT_MODE) in LIBRARY_MODES
    assert chamber.write_int(MODE, 62) is None
    assert LIBRARY_MODES[chamber.read_int(CURRENT_MODE)] == "off"
    assert chamber.read_float(CURRENT_POWER) == 0.0
    assert chamber.write_int(MODE, 10) is None
    assert LIBRARY_MODES[chamber.read_int(MODE)] == "auto"
    assert LIBRARY_MODES[chamber.read_int(CURRENT_MODE)] == "auto"
    assert chamber.write_int(MODE, 99) == ILLEGAL_DATA_VALUE  # not a loop mode
    assert chamber.read_int(MODE) == 10


def test_auto_mode_heats_and_cools_with_a_physical_output_power(f4t) -> None:
    bench, chamber = f4t
    assert chamber.write_float(SETPOINT, 45.0) is None
    assert chamber.write_int(MODE, 10) is None
    time.sleep(0.1)  # ~500 simulated seconds
    heating = chamber.read_float(CURRENT_POWER)
    assert 0.0 < heating <= 100.0
    assert chamber.read_float(SETPOINT) == pytest.approx(45.0)
    assert chamber.read_float(CURRENT_SETPOINT) == pytest.approx(45.0)
    assert 25.0 < chamber.read_float(PROCESS_VALUE) < 50.0
    assert chamber.write_float(SETPOINT, -10.0) is None
    time.sleep(0.05)
    assert -100.0 <= chamber.read_float(CURRENT_POWER) < 0.0  # the refrigerator works
    _, now = air(bench)
    assert now < 45.0


def test_manual_mode_applies_the_written_power_at_the_heaters_rate(f4t) -> None:
    bench, chamber = f4t
    assert chamber.write_float(MANUAL_POWER, 50.0) is None
    assert chamber.write_int(MODE, 54) is None  # manual is writable
    assert LIBRARY_MODES[chamber.read_int(CURRENT_MODE)] == "manual"
    assert chamber.read_float(MANUAL_POWER) == pytest.approx(50.0)
    t1, air1 = air(bench)
    time.sleep(0.1)
    t2, air2 = air(bench)
    assert chamber.read_float(CURRENT_POWER) == pytest.approx(50.0)
    p = ThermalParams()  # the simulated chamber's own constants
    mean = 0.5 * (air1 + air2)
    expected = 0.5 * p.heat_rate_K_min / 60.0 + (p.ambient_degC - mean) / p.loss_tau_s
    assert (air2 - air1) / (t2 - t1) == pytest.approx(expected, rel=0.05)
    assert chamber.write_float(MANUAL_POWER, 150.0) == ILLEGAL_DATA_VALUE


def test_the_range_is_writable_and_bounds_the_setpoint(f4t) -> None:
    _, chamber = f4t
    assert chamber.write_float(RANGE_HIGH, 80.0) is None
    assert chamber.write_float(RANGE_LOW, -10.0) is None
    assert chamber.read_float(RANGE_HIGH) == pytest.approx(80.0)
    assert chamber.read_float(RANGE_LOW) == pytest.approx(-10.0)
    assert chamber.write_float(SETPOINT, 90.0) == ILLEGAL_DATA_VALUE
    assert chamber.write_float(SETPOINT, 70.0) is None
    assert chamber.write_float(RANGE_HIGH, 500.0) == ILLEGAL_DATA_VALUE  # past the chamber
    assert chamber.write_float(PROCESS_VALUE, 20.0) is not None  # a reading is not writable
