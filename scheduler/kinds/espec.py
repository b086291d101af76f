"""ESPEC P-300 / SCP-220 chamber controller (ASCII over TCP or serial); it ramps its setpoint
on its own controller."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from drivers.chambers.espec import EspecChamber
from scheduler.kinds.base import (
    EndpointSettings,
    SimContext,
    SimulatedInstrument,
    endpoint_driver,
)
from scheduler.kinds.chamber import chamber_kind, reading_of


class EspecConfig(EndpointSettings):
    kind: Literal["espec"]
    address: int | None = Field(None, ge=0, le=99)
    timeout_s: float = Field(3.0, gt=0)


def _simulator(config: EspecConfig, context: SimContext) -> SimulatedInstrument:
    from simulators.espec import EspecSimulator

    simulator = EspecSimulator(context.plant, context.clock, sync=context.sync)
    return SimulatedInstrument(simulator, {"endpoint": simulator})


async def _probe(driver: EspecChamber) -> tuple[dict[str, str], str]:
    model = await driver.identify()
    return {"model": model}, await reading_of(driver)


KIND = chamber_kind(
    "ESPEC chamber",
    EspecConfig,
    EspecChamber,
    endpoint_driver(EspecChamber, "address", "timeout_s"),
    _simulator,
    _probe,
)
