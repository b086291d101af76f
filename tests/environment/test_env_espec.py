"""ESPEC P-300 driver against its simulator over TCP and over a pty: soak, lag, ramp, errors."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from chamber_support import POLL_S, STABLE_FOR_S, TOLERANCE_K, soak_to_60
from sim_attach import attached

from drivers.chamber import ChamberMode, ChamberSensorError
from drivers.chambers.espec import EspecChamber
from drivers.errors import InstrumentConnectionError, InstrumentReportedError
from simulators.espec import EspecSimulator


@asynccontextmanager
async def _espec(
    chamber_bench, transport: str
) -> AsyncIterator[tuple[EspecSimulator, EspecChamber]]:
    sim = EspecSimulator(chamber_bench.plant, chamber_bench.clock, sync=chamber_bench.bench.sync)
    if transport == "tcp":
        host, port = await sim.start_tcp()
        endpoint = f"tcp://{host}:{port}"
    else:
        endpoint = await sim.start_pty()
    driver = EspecChamber(endpoint, timeout_s=2.0)
    await driver.open()
    async with attached(sim, driver) as pair:
        yield pair


@pytest.mark.parametrize("transport", ["tcp", "pty"])
async def test_soak_30_to_60_no_earlier_than_the_plant_settles(chamber_bench, transport):
    async with _espec(chamber_bench, transport) as (sim, chamber):
        plant = chamber_bench.plant
        began, took = await soak_to_60(chamber_bench, chamber)
        changed_at = plant.setpoint_changed_at
        # What the noise-free plant allows: from the moment the setpoint changed, the air is
        # outside the band (widened by 4σ of sensor noise) until `earliest`.
        twin = type(plant)(plant.params, start_degC=30.0)
        twin.set_setpoint(30.0)
        twin.set_mode("CONSTANT")
        twin.set_setpoint(60.0)
        noise = 4 * plant.params.noise_K
        earliest = twin.settling_time(TOLERANCE_K + noise)
        latest = twin.settling_time(TOLERANCE_K - noise)
        detected = began + took - changed_at
        assert detected >= earliest + STABLE_FOR_S - 1.0
        # ...and the detector is not lazy: a couple of polls (plus wire latency) at most.
        assert detected <= latest + STABLE_FOR_S + 5 * POLL_S + 300.0
        reading = await chamber.read()
        assert abs(reading.process_degC - 60.0) <= TOLERANCE_K
        assert reading.setpoint_degC == pytest.approx(60.0)
        assert reading.mode is ChamberMode.CONSTANT
        assert "TEMP, S60.0" in sim.commands
        assert "MODE,CONSTANT" in sim.commands


async def test_cell_follows_the_air_with_its_first_order_lag(chamber_bench):
    async with _espec(chamber_bench, "tcp") as (_sim, chamber):
        plant, clock, cell = chamber_bench.plant, chamber_bench.clock, chamber_bench.cell
        await chamber.set_temperature(60.0)
        samples: list[tuple[float, float, float]] = []
        while clock.now() < plant.setpoint_changed_at + 3000:
            await clock.sleep(10.0)
            chamber_bench.bench.sync()
            samples.append((plant.t, plant.air_degC, cell.temperature_degC))
        # While the air climbs, the cell is colder; integrating dT/dt = (air - T)/τ over the
        # air we saw reproduces the cell temperature the bench handed over.
        tau = 300.0
        model = samples[0][2]
        worst = 0.0
        for (t0, air0, _), (t1, air1, cell1) in itertools.pairwise(samples):
            dt = t1 - t0
            mean_air = 0.5 * (air0 + air1)
            model = mean_air + (model - mean_air) * math.exp(-dt / tau)
            worst = max(worst, abs(model - cell1))
        assert worst < 0.3
        lagging = [air - c for _, air, c in samples if air < 59.0]
        assert min(lagging) > 0.0 and max(lagging) > 5.0  # behind by several kelvin mid-ramp
        _t_end, air_end, cell_end = samples[-1]
        assert abs(cell_end - 60.0) < 0.3 and abs(air_end - 60.0) < 0.3


async def test_remote_program_ramps_at_the_requested_rate(chamber_bench):
    async with _espec(chamber_bench, "tcp") as (sim, chamber):
        plant, clock = chamber_bench.plant, chamber_bench.clock
        await chamber.set_temperature(45.0, ramp_K_per_min=0.5)  # 15 K in 30 min
        assert any(
            c.startswith("RUN PRGM, TEMP") and "GOTEMP45.0 TIME0:30" in c for c in sim.commands
        )
        ramp = plant.ramp
        assert ramp is not None and ramp.duration_s == 1800.0
        await clock.sleep(900.0)
        t_before = plant.t
        halfway = await chamber.read()
        t_after = plant.t
        assert halfway.mode is ChamberMode.RUN
        # the setpoint moves at 0.5 K/min from where the program started
        low, high = sorted(ramp.target(t) for t in (t_before - 1, t_after + 1))
        assert low - 0.11 <= halfway.setpoint_degC <= high + 0.11
        assert 31.0 < halfway.setpoint_degC < 44.0
        # the air tracks the moving setpoint within the follower's lag (2ζ·rate/ω ≈ 1.2 K)
        assert abs(halfway.process_degC - halfway.setpoint_degC) < 2.0
        start = ramp.start_t
        await clock.sleep(max(0.0, start + 1800 + 1800 - clock.now()))
        done = await chamber.read()
        assert done.mode is ChamberMode.CONSTANT and done.setpoint_degC == pytest.approx(45.0)
        assert abs(done.process_degC - 45.0) < 0.5
        assert plant.ramp is None


async def test_na_replies_become_clear_errors(chamber_bench):
    async with _espec(chamber_bench, "pty") as (_sim, chamber):
        with pytest.raises(InstrumentReportedError, match="outside the range") as info:
            await chamber.set_temperature(140.0)  # above the 100 °C high limit
        assert info.value.code == "DATA OUT OF RANGE"
        with pytest.raises(InstrumentReportedError, match="does not know this command"):
            await chamber.query("TEMPP?")
        with pytest.raises(InstrumentReportedError, match="missing or cannot be read"):
            await chamber.query("MODE,FAST")
        with pytest.raises(InstrumentReportedError, match="no program is running"):
            await chamber.query("RUN PRGM?")


async def test_sensor_dropout_is_a_sensor_error(chamber_bench):
    async with _espec(chamber_bench, "tcp") as (_sim, chamber):
        assert math.isfinite((await chamber.read()).process_degC)
        chamber_bench.plant.faults.sensor_dropout = True
        with pytest.raises(ChamberSensorError, match="sensor has failed or dropped out"):
            await chamber.read()
        with pytest.raises(ChamberSensorError):
            await chamber.monitor()


async def test_dropped_connection_is_reconnected(chamber_bench):
    async with _espec(chamber_bench, "tcp") as (sim, chamber):
        before = sim.server.connections
        sim.server.drop_connections()
        reading = await chamber.read()  # the driver reconnects and repeats the query
        assert math.isfinite(reading.process_degC)
        assert sim.server.connections == before + 1


async def test_chamber_gone_for_good_is_a_clear_connection_error(chamber_bench):
    async with _espec(chamber_bench, "tcp") as (sim, chamber):
        await sim.stop()
        with pytest.raises(InstrumentConnectionError, match="could not be reconnected"):
            await chamber.read()
