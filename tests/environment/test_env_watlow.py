"""Watlow F4T driver against its pymodbus simulator over Modbus TCP."""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from chamber_support import POLL_S, STABLE_FOR_S, TOLERANCE_K, soak_to_60
from sim_attach import attached

from drivers.chamber import ChamberMode, ChamberSensorError
from drivers.chambers.watlow_f4t import WatlowF4T
from drivers.errors import InstrumentConnectionError, InstrumentReportedError
from scheduler.environment import Environment, EnvironmentSettings
from simulators.watlow import REG_SETPOINT, WatlowSimulator, registers_to_float


@asynccontextmanager
async def _watlow(
    chamber_bench, timeout_s: float = 2.0
) -> AsyncIterator[tuple[WatlowSimulator, WatlowF4T]]:
    sim = WatlowSimulator(chamber_bench.plant, chamber_bench.clock, sync=chamber_bench.bench.sync)
    host, port = await sim.start_tcp()
    driver = WatlowF4T(f"tcp://{host}:{port}", timeout_s=timeout_s)
    await driver.open()
    async with attached(sim, driver) as pair:
        yield pair


def test_floats_go_low_word_first():
    # 60.0 is 0x42700000: high word 0x4270, low word 0x0000 → registers [0x0000, 0x4270]
    assert registers_to_float([0x0000, 0x4270]) == 60.0
    assert struct.pack(">f", 60.0) == bytes.fromhex("42700000")


async def test_soak_30_to_60_over_modbus(chamber_bench):
    async with _watlow(chamber_bench) as (sim, chamber):
        plant = chamber_bench.plant
        began, took = await soak_to_60(chamber_bench, chamber)
        twin = type(plant)(plant.params, start_degC=30.0)
        twin.set_mode("CONSTANT")
        twin.set_setpoint(60.0)
        noise = 4 * plant.params.noise_K
        detected = began + took - plant.setpoint_changed_at
        assert detected >= twin.settling_time(TOLERANCE_K + noise) + STABLE_FOR_S - 1.0
        assert detected <= twin.settling_time(TOLERANCE_K - noise) + STABLE_FOR_S + 5 * POLL_S + 300
        # the driver wrote the setpoint as a low-word-first float at 2782, then auto mode
        _address, words = next(w for w in sim.writes if w[0] == REG_SETPOINT)
        assert registers_to_float(words) == 60.0 and words == [0x0000, 0x4270]
        reading = await chamber.read()
        assert reading.mode is ChamberMode.CONSTANT
        assert reading.setpoint_degC == pytest.approx(60.0)
        assert abs(reading.process_degC - 60.0) <= TOLERANCE_K
        assert abs(chamber_bench.cell.temperature_degC - 60.0) < 2.0  # the cell follows


async def test_host_side_ramp_for_a_controller_that_cannot_ramp(chamber_bench):
    async with _watlow(chamber_bench) as (sim, chamber):
        clock = chamber_bench.clock
        assert chamber.supports_ramp is False
        env = Environment(
            chamber, None, clock, settings=EnvironmentSettings(poll_s=POLL_S, host_ramp_step_s=60)
        )
        took = await env.set_temperature(40.0, ramp_K_per_min=1.0, stable_for_s=120.0)
        setpoints = [registers_to_float(w) for a, w in sim.writes if a == REG_SETPOINT]
        # A ramp in small steps, not a jump to the target. How many steps the host manages
        # depends on how fast the machine answers at this time scale (1-min steps over
        # ~10 min when idle), so count only what any machine must show.
        assert len(setpoints) >= 4
        assert setpoints[1] < 36.0  # the first step after the start is well short of 40 °C
        assert all(b >= a for a, b in itertools.pairwise(setpoints))
        assert setpoints[-1] == 40.0
        assert took >= 600.0  # a 10 K ramp at 1 K/min cannot be done sooner
        with pytest.raises(Exception, match="does not ramp on its own"):
            await chamber.set_temperature(50.0, ramp_K_per_min=2.0)


async def test_sensor_dropout_reads_nan_and_is_reported(chamber_bench):
    async with _watlow(chamber_bench) as (_sim, chamber):
        chamber_bench.plant.faults.sensor_dropout = True
        with pytest.raises(ChamberSensorError, match="sensor has dropped out"):
            await chamber.read()


async def test_refused_value_is_a_modbus_exception(chamber_bench):
    async with _watlow(chamber_bench) as (_sim, chamber):
        with pytest.raises(InstrumentReportedError, match="Modbus exception"):
            await chamber.set_temperature(400.0)  # beyond the chamber's range
        assert chamber_bench.plant.setpoint_degC == 30.0


async def test_dropped_connection_is_reconnected(chamber_bench):
    # pymodbus notices a dropped connection when the pending request times out
    async with _watlow(chamber_bench, timeout_s=0.3) as (sim, chamber):
        assert math.isfinite((await chamber.read()).process_degC)
        sim.drop_connections()
        assert math.isfinite((await chamber.read()).process_degC)
        await sim.stop()
        with pytest.raises(InstrumentConnectionError, match="lost the connection"):
            await chamber.read()
