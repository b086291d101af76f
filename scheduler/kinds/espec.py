"""ESPEC P-300 / SCP-220 chamber controller (ASCII over TCP or serial); it ramps its setpoint
on its own controller."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from drivers.chambers.espec import EspecChamber
from scheduler.endpoints import check_line_endpoint, free_ports_allowed
from scheduler.kinds.base import (
    Capabilities,
    InstrumentKind,
    InstrumentSettings,
    SimContext,
    SimulatedInstrument,
)
from scheduler.kinds.chamber import CHAMBER_FAULTS, chamber_plant, reading_of


class EspecConfig(InstrumentSettings):
    kind: Literal["espec"]
    endpoint: str
    address: int | None = Field(None, ge=0, le=99)
    timeout_s: float = Field(3.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_line_endpoint(value, free_ports_allowed(info))


def _driver(config: EspecConfig, name: str, clock: Any, channel: int) -> EspecChamber:
    return EspecChamber(
        config.endpoint, name=name, address=config.address, timeout_s=config.timeout_s
    )


def _simulator(config: EspecConfig, context: SimContext) -> SimulatedInstrument:
    from simulators.espec import EspecSimulator

    simulator = EspecSimulator(context.plant, context.clock, sync=context.sync)
    return SimulatedInstrument(simulator, {"endpoint": simulator})


async def _probe(driver: EspecChamber) -> tuple[dict[str, str], str]:
    model = await driver.identify()
    return {"model": model}, await reading_of(driver)


KIND = InstrumentKind(
    label="ESPEC chamber",
    role="chamber",
    config=EspecConfig,
    capabilities=Capabilities(
        ramps=EspecChamber.supports_ramp,
        notes=(EspecChamber.__doc__ or "").strip(),
    ),
    faults=CHAMBER_FAULTS,
    driver=_driver,
    simulator=_simulator,
    probe=_probe,
    plant=chamber_plant,
)
