"""Watlow F4T chamber controller (Modbus TCP); the scheduler ramps its setpoint host-side."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from drivers.chambers.watlow_f4t import WatlowF4T
from scheduler.endpoints import check_modbus_endpoint
from scheduler.kinds.base import (
    EndpointSettings,
    SimContext,
    SimulatedInstrument,
    endpoint_driver,
)
from scheduler.kinds.chamber import chamber_kind, reading_of


class WatlowF4TConfig(EndpointSettings):
    kind: Literal["watlow-f4t"]
    endpoint_rule = check_modbus_endpoint
    loop: int = Field(1, ge=1, le=4)
    device_id: int = Field(1, ge=0, le=247)
    timeout_s: float = Field(3.0, gt=0)


def _simulator(config: WatlowF4TConfig, context: SimContext) -> SimulatedInstrument:
    from simulators.watlow import WatlowSimulator

    simulator = WatlowSimulator(context.plant, context.clock, sync=context.sync)
    return SimulatedInstrument(simulator, {"endpoint": simulator})


async def _probe(driver: WatlowF4T) -> tuple[dict[str, str], str]:
    return {"model": "Watlow F4T (Modbus TCP)"}, await reading_of(driver)


_DRIVER = endpoint_driver(WatlowF4T, "loop", "device_id", "timeout_s")
KIND = chamber_kind("Watlow F4T chamber", WatlowF4TConfig, WatlowF4T, _DRIVER, _simulator, _probe)
