"""Fixtures for chamber and pressure-rig tests: a simulated bench on one fast SimClock, the
simulators serving it over real endpoints, and the real drivers pointed at them."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from simulators.bench import SimulatedBench
from simulators.clock import SimClock
from simulators.press import PressPlant
from simulators.thermal import ChamberPlant, ThermalParams

CHAMBER_SCALE = 1e4  # simulated seconds per wall second in chamber tests
PRESS_SCALE = 2e4
CELL_AREA_MM2 = math.pi * 5.0**2  # a Ø10 mm pellet


@dataclass
class RecordingCell:
    """Stands in for a cell: remembers the temperature and pressure the bench hands it."""

    temperature_degC: float = 30.0
    pressure_MPa: float = 0.0

    def set_temperature(self, degC: float) -> None:
        self.temperature_degC = degC

    def set_pressure(self, MPa: float) -> None:
        self.pressure_MPa = MPa


@dataclass
class ChamberBench:
    clock: SimClock
    plant: ChamberPlant
    bench: SimulatedBench
    cell: RecordingCell


@pytest.fixture
async def chamber_bench() -> AsyncIterator[ChamberBench]:
    """A chamber holding 30 °C in CONSTANT mode, with one cell at 30 °C, lag 300 s."""
    clock = SimClock(CHAMBER_SCALE)
    plant = ChamberPlant(ThermalParams(), start_degC=30.0, seed=7)
    plant.set_setpoint(30.0)
    plant.set_mode("CONSTANT")
    bench = SimulatedBench(clock, chamber=plant)
    cell = RecordingCell(30.0)
    bench.add_cell(cell, thermal_lag_s=300.0, in_press=False)
    await bench.start()
    yield ChamberBench(clock, plant, bench, cell)
    await bench.stop()


@dataclass
class PressBench:
    clock: SimClock
    plant: PressPlant
    bench: SimulatedBench
    cell: RecordingCell


@pytest.fixture
async def press_bench(request: pytest.FixtureRequest) -> AsyncIterator[PressBench]:
    """An unloaded press with one cell; `indirect` parametrisation may set the time scale."""
    clock = SimClock(getattr(request, "param", PRESS_SCALE))
    plant = PressPlant(seed=3)
    bench = SimulatedBench(clock, press=plant)
    cell = RecordingCell(25.0)
    bench.add_cell(cell)
    await bench.start()
    yield PressBench(clock, plant, bench, cell)
    await bench.stop()
