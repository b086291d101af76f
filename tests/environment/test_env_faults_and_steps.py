"""Environment steps through the ESPEC wire path: plan steps, heater failure, overshoot and
timeouts, each reported with a specific error within a stated time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sim_attach import attached

from drivers.chambers.espec import EspecChamber
from protocols import steps as p
from scheduler.environment import (
    ChamberStalled,
    Environment,
    EnvironmentSettings,
    OverTemperature,
)
from scheduler.errors import SchedulerError
from scheduler.soak import SoakTimeout
from simulators.espec import EspecSimulator

SETTINGS = EnvironmentSettings(poll_s=20.0, progress_window_s=900.0, overshoot_limit_K=3.0)


@asynccontextmanager
async def _env(chamber_bench) -> AsyncIterator[Environment]:
    """An Environment on the ESPEC chamber, driven over TCP for one test."""
    sim = EspecSimulator(chamber_bench.plant, chamber_bench.clock, sync=chamber_bench.bench.sync)
    host, port = await sim.start_tcp()
    chamber = EspecChamber(f"tcp://{host}:{port}")
    await chamber.open()
    async with attached(sim, chamber):
        yield Environment(chamber, None, chamber_bench.clock, settings=SETTINGS)


async def test_set_temperature_step_soaks_and_lets_the_cell_catch_up(chamber_bench):
    async with _env(chamber_bench) as env:
        step = p.SetTemperature(
            index=3,
            target_degC=45.0,
            tolerance_K=0.5,
            stable_for_s=300.0,
            soak_s=1800.0,
            timeout_s=3 * 3600,
        )
        took = await env.apply(step)
        assert took >= 1800.0 + 300.0
        # after a 30 min soak (6 lag time constants) the cell is at the air temperature
        assert chamber_bench.cell.temperature_degC == pytest.approx(45.0, abs=0.1)


async def test_heater_failure_is_reported_within_the_progress_window(chamber_bench):
    async with _env(chamber_bench) as env:
        chamber_bench.plant.faults.heater_failed = True
        began = chamber_bench.clock.now()
        with pytest.raises(ChamberStalled, match="heater or refrigeration has likely failed"):
            await env.set_temperature(60.0, stable_for_s=300.0, timeout_s=6 * 3600)
        # stated: the progress window (900 s) plus one poll, well before the 6 h timeout
        assert chamber_bench.clock.now() - began <= 900.0 + 20.0 + 200.0
        assert chamber_bench.plant.air_degC < 31.0  # the air never warmed


async def test_overshoot_is_an_over_temperature(chamber_bench):
    async with _env(chamber_bench) as env:
        chamber_bench.plant.faults.overshoot_K = 8.0  # the controller runs away past 60 °C
        began = chamber_bench.clock.now()
        with pytest.raises(OverTemperature, match=r"past the 60 °C setpoint"):
            await env.set_temperature(60.0, stable_for_s=300.0, timeout_s=6 * 3600)
        # the air passes 63 °C about 13 min after the step; one poll later it is reported
        assert chamber_bench.clock.now() - began <= 1500.0
        assert chamber_bench.plant.air_degC > 63.0


async def test_the_natural_overshoot_is_not_a_fault(chamber_bench):
    async with _env(chamber_bench) as env:
        await env.set_temperature(60.0, stable_for_s=300.0, timeout_s=3 * 3600)  # no raise


async def test_soak_timeout_names_instrument_target_last_value_and_timeout(chamber_bench):
    async with _env(chamber_bench) as env:
        with pytest.raises(SoakTimeout) as info:
            await env.set_temperature(60.0, stable_for_s=300.0, timeout_s=600.0)
        text = str(info.value)
        assert "ESPEC chamber" in text and "60 °C" in text and "600 s timeout" in text
        assert "last reading" in text


async def test_steps_without_their_instrument_are_refused(chamber_bench):
    env = Environment(None, None, chamber_bench.clock)
    with pytest.raises(SchedulerError, match="no chamber"):
        await env.apply(p.SetTemperature(index=0, target_degC=40.0))
    with pytest.raises(SchedulerError, match="no rig"):
        await env.apply(p.SetPressure(index=1, target_Pa=15e6))
