"""The pneumatic stack-pressure rig: an Alicat PC pressure controller and a Mark-10 force
gauge (both serial), with a host-side force loop holding the stack pressure."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from scheduler.endpoints import check_line_endpoint, free_ports_allowed
from scheduler.kinds.base import (
    LINK_FAULTS,
    Capabilities,
    InstrumentKind,
    InstrumentSettings,
    SimContext,
    SimulatedInstrument,
)


class PressureRigConfig(InstrumentSettings):
    kind: Literal["pressure-rig"]
    controller: str  # Alicat PC
    gauge: str  # Mark-10
    piston_area_mm2: float = Field(gt=0)
    friction_N: float = Field(0.0, ge=0)
    max_force_N: float = Field(2000.0, gt=0)
    period_s: float = Field(30.0, gt=0)
    unit_id: str = Field("A", pattern=r"^[A-Za-z]$")
    full_scale_psig: float = Field(150.0, gt=0)
    timeout_s: float = Field(1.0, gt=0)

    @field_validator("controller", "gauge")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_line_endpoint(value, free_ports_allowed(info))


def _driver(config: PressureRigConfig, name: str, clock: Any, channel: int) -> Any:
    from drivers.pressure.alicat import AlicatPC
    from drivers.pressure.mark10 import Mark10Gauge
    from drivers.pressure.rig import PneumaticPressRig, RigSettings

    return PneumaticPressRig(
        AlicatPC(
            config.controller,
            name=f"{name} controller",
            unit_id=config.unit_id.upper(),
            full_scale=config.full_scale_psig,
            timeout_s=config.timeout_s,
        ),
        Mark10Gauge(config.gauge, name=f"{name} gauge", timeout_s=config.timeout_s),
        RigSettings(
            piston_area_mm2=config.piston_area_mm2,
            friction_N=config.friction_N,
            max_force_N=config.max_force_N,
            period_s=config.period_s,
        ),
        name=name,
        clock=clock,
    )


def _plant(config: PressureRigConfig, context: SimContext) -> Any:
    """The press, on the area of the first cell its slots give."""
    from simulators.press import PressParams, PressPlant

    area = next((s.cell_area_mm2 for s in context.slots if s.cell_area_mm2), None)
    params = PressParams(
        piston_area_mm2=config.piston_area_mm2,
        **({"cell_area_mm2": area} if area else {}),
        **({"friction_N": config.friction_N} if config.friction_N else {}),
    )
    return PressPlant(params, seed=context.seed)


def _simulator(config: PressureRigConfig, context: SimContext) -> SimulatedInstrument:
    from simulators.rig import PressRigSimulator

    rig = PressRigSimulator(
        context.plant,
        context.clock,
        sync=context.sync,
        unit_id=config.unit_id.upper(),
        full_scale_psig=config.full_scale_psig,
    )
    return SimulatedInstrument(rig, {"controller": rig.controller, "gauge": rig.gauge})


def _simulation_problems(name: str, config: PressureRigConfig, slots: list[Any]) -> list[str]:
    chambers = {s.chamber for s in slots}
    if len(chambers) <= 1:
        return []
    return [
        f"instruments.{name}: its slots sit in different chambers "
        f"({', '.join(sorted(str(c) for c in chambers))}); one press is in one place"
    ]


async def _probe(driver: Any) -> tuple[dict[str, str], str]:
    frame = await driver.controller.poll()
    force = await driver.gauge.read_force_N()
    return {"model": "Alicat PC + Mark-10"}, (
        f"gas {frame.pressure_Pa / 1e3:.1f} kPa (setpoint {frame.setpoint_Pa / 1e3:.1f} kPa), "
        f"force {force:.1f} N"
    )


KIND = InstrumentKind(
    label="pressure rig",
    role="rig",
    config=PressureRigConfig,
    capabilities=Capabilities(
        notes="Alicat PC + Mark-10: a host-side force loop holds the stack pressure.",
    ),
    faults={
        "leak": "the cylinder loses `value` (0-1, default 0.5) of its supply pressure",
        "load-cell-drift": "the load cell drifts `value` N/h (default 500)",
        "valve-stuck-open": "the controller's valve sticks open",
        **LINK_FAULTS,
    },
    driver=_driver,
    simulator=_simulator,
    probe=_probe,
    endpoints=("controller", "gauge"),
    plant=_plant,
    simulation_problems=_simulation_problems,
)
