"""Watlow F4T chamber controller (Modbus TCP); the scheduler ramps its setpoint host-side."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from drivers.chambers.watlow_f4t import WatlowF4T
from scheduler.endpoints import check_modbus_endpoint, free_ports_allowed
from scheduler.kinds.base import (
    Capabilities,
    InstrumentKind,
    InstrumentSettings,
    SimContext,
    SimulatedInstrument,
)
from scheduler.kinds.chamber import CHAMBER_FAULTS, chamber_plant, reading_of


class WatlowF4TConfig(InstrumentSettings):
    kind: Literal["watlow-f4t"]
    endpoint: str
    loop: int = Field(1, ge=1, le=4)
    device_id: int = Field(1, ge=0, le=247)
    timeout_s: float = Field(3.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_modbus_endpoint(value, free_ports_allowed(info))


def _driver(config: WatlowF4TConfig, name: str, clock: Any, channel: int) -> WatlowF4T:
    return WatlowF4T(
        config.endpoint,
        name=name,
        loop=config.loop,
        device_id=config.device_id,
        timeout_s=config.timeout_s,
    )


def _simulator(config: WatlowF4TConfig, context: SimContext) -> SimulatedInstrument:
    from simulators.watlow import WatlowSimulator

    simulator = WatlowSimulator(context.plant, context.clock, sync=context.sync)
    return SimulatedInstrument(simulator, {"endpoint": simulator})


async def _probe(driver: WatlowF4T) -> tuple[dict[str, str], str]:
    return {"model": "Watlow F4T (Modbus TCP)"}, await reading_of(driver)


KIND = InstrumentKind(
    label="Watlow F4T chamber",
    role="chamber",
    config=WatlowF4TConfig,
    capabilities=Capabilities(
        ramps=WatlowF4T.supports_ramp,
        notes=(WatlowF4T.__doc__ or "").strip(),
    ),
    faults=CHAMBER_FAULTS,
    driver=_driver,
    simulator=_simulator,
    probe=_probe,
    plant=chamber_plant,
)
