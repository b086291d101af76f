"""An in-process simulated bench: a preset cell behind a simulated EmStat4, and the real
driver connected to it over TCP (or a pty). Used by `cellbench demo` and `cellbench sim run`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.potentiostats.emstat4 import EmStat4
from simulators.cell import load_preset, make_cell
from simulators.clock import SimClock
from simulators.emstat4 import EmStat4Simulator


@dataclass
class SimulatedChannel:
    driver: EmStat4
    simulator: EmStat4Simulator
    cell: Any
    params: Any
    endpoint: str


@contextlib.asynccontextmanager
async def simulated_emstat4(
    preset: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    time_scale: float = math.inf,
    transport: str = "tcp",
    seed: int | None = 1,
    temperature_degC: float | None = None,
    pressure_MPa: float = 0.0,
) -> AsyncIterator[SimulatedChannel]:
    """Start a simulated EmStat4 with a preset cell and yield a connected driver."""
    params = load_preset(preset)
    if overrides:
        params = params.with_overrides(dict(overrides))
    cell = make_cell(
        params, temperature_degC=temperature_degC, pressure_MPa=pressure_MPa, seed=seed
    )
    simulator = EmStat4Simulator(cell, time_scale=time_scale)
    if transport == "pty":
        endpoint = await simulator.start_pty()
    else:
        host, port = await simulator.start_tcp()
        endpoint = f"tcp://{host}:{port}"
    driver = EmStat4(endpoint, name="EmStat4 (simulated)")
    try:
        await driver.connect()
        yield SimulatedChannel(driver, simulator, cell, params, endpoint)
    finally:
        await driver.close()
        await simulator.stop()


@dataclass
class SimulatedSlot:
    """A whole simulated slot: potentiostat, optional chamber and press, on one clock."""

    driver: EmStat4
    environment: Any
    cell: Any
    params: Any
    clock: SimClock
    bench: Any
    emstat: EmStat4Simulator
    chamber_plant: Any = None
    press_plant: Any = None


@contextlib.asynccontextmanager
async def simulated_slot(
    preset: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    time_scale: float = 2e4,
    chamber: bool = True,
    press: bool = False,
    start_degC: float = 25.0,
    seed: int | None = 1,
    poll_s: float = 60.0,
) -> AsyncIterator[SimulatedSlot]:
    """Start every simulator a slot needs, wired to one cell, and yield connected drivers.

    The chamber (ESPEC P-300 over TCP) sets the cell's temperature through its thermal lag;
    the press (Alicat + Mark-10 over TCP) sets its stack pressure. All share one SimClock,
    which must run at a finite time scale for the plants to evolve.
    """
    from drivers.chambers.espec import EspecChamber
    from drivers.pressure.alicat import AlicatPC
    from drivers.pressure.mark10 import Mark10Gauge
    from drivers.pressure.rig import PneumaticPressRig, RigSettings
    from scheduler.environment import Environment, EnvironmentSettings
    from simulators.alicat import AlicatSimulator
    from simulators.bench import SimulatedBench
    from simulators.espec import EspecSimulator
    from simulators.mark10 import Mark10Simulator
    from simulators.press import PressPlant
    from simulators.thermal import ChamberPlant, ThermalParams

    params = load_preset(preset)
    if overrides:
        params = params.with_overrides(dict(overrides))
    clock = SimClock(time_scale)
    cell = make_cell(params, temperature_degC=start_degC, seed=seed)
    chamber_plant = press_plant = None
    if chamber:
        chamber_plant = ChamberPlant(ThermalParams(), start_degC=start_degC, seed=seed)
        chamber_plant.set_setpoint(start_degC)
        chamber_plant.set_mode("CONSTANT")
    if press:
        press_plant = PressPlant(seed=seed)
    bench = SimulatedBench(clock, chamber=chamber_plant, press=press_plant)
    bench.add_cell(cell, in_press=press)
    emstat = EmStat4Simulator(cell, clock=clock)
    closers: list[Any] = []
    await bench.start()
    try:
        host, port = await emstat.start_tcp()
        driver = EmStat4(f"tcp://{host}:{port}", name="EmStat4 (simulated)")
        await driver.connect()
        closers.append(driver.close)
        chamber_driver = rig = None
        if chamber_plant is not None:
            espec = EspecSimulator(chamber_plant, clock, sync=bench.sync)
            closers.append(espec.stop)
            chamber_driver = EspecChamber("tcp://{}:{}".format(*await espec.start_tcp()))
            await chamber_driver.open()
            closers.append(chamber_driver.close)
        if press_plant is not None:
            alicat = AlicatSimulator(press_plant, clock, sync=bench.sync)
            mark10 = Mark10Simulator(press_plant, clock, sync=bench.sync)
            closers += [alicat.stop, mark10.stop]
            rig = PneumaticPressRig(
                AlicatPC("tcp://{}:{}".format(*await alicat.start_tcp())),
                Mark10Gauge("tcp://{}:{}".format(*await mark10.start_tcp())),
                RigSettings(
                    piston_area_mm2=press_plant.params.piston_area_mm2,
                    friction_N=press_plant.params.friction_N,
                ),
                clock=clock,
            )
            await rig.open()
            closers.append(rig.close)
        environment = Environment(
            chamber_driver,
            rig,
            clock,
            cell_area_mm2=params.area_cm2 * 100.0,
            settings=EnvironmentSettings(poll_s=poll_s),
        )
        yield SimulatedSlot(
            driver, environment, cell, params, clock, bench, emstat, chamber_plant, press_plant
        )
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
        await emstat.stop()
        await bench.stop()
