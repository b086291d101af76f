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
from simulators.cell import Cell, load_preset
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
    cell = Cell(params, temperature_degC=temperature_degC, pressure_MPa=pressure_MPa, seed=seed)
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
