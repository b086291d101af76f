"""What the chamber kinds share: their faults, the thermal plant their simulators sit in
front of, and how `bench check` reports a reading."""

from __future__ import annotations

from typing import Any

from scheduler.kinds.base import (
    LINK_FAULTS,
    Capabilities,
    DriverFactory,
    InstrumentKind,
    InstrumentSettings,
    Probe,
    SimContext,
    SimulatorFactory,
)

CHAMBER_FAULTS = {
    "heater-failure": "the heater stops: the air drifts and cannot reach a hot setpoint",
    "overshoot": "the controller runs away `value` K (default 5) above its setpoint",
    "sensor-dropout": "the temperature sensor gives no reading",
    **LINK_FAULTS,
}


def chamber_plant(config: Any, context: SimContext) -> Any:
    """The chamber's air, holding the simulation's start temperature."""
    from simulators.thermal import ChamberPlant, ThermalParams

    plant = ChamberPlant(ThermalParams(), start_degC=context.start_degC, seed=context.seed)
    plant.set_setpoint(context.start_degC)
    plant.set_mode("CONSTANT")
    return plant


async def reading_of(driver: Any) -> str:
    """One chamber reading, as `bench check` prints it."""
    reading = await driver.read()
    return (
        f"air {reading.process_degC:.1f} °C, setpoint {reading.setpoint_degC:.1f} °C, "
        f"{reading.mode.value}"
    )


def chamber_kind(
    label: str,
    config: type[InstrumentSettings],
    driver_class: Any,
    driver: DriverFactory,
    simulator: SimulatorFactory,
    probe: Probe,
) -> InstrumentKind:
    """A chamber kind: its capabilities come from the driver class (does it ramp on its own
    controller), its faults and its thermal plant are every chamber's."""
    return InstrumentKind(
        label=label,
        role="chamber",
        config=config,
        capabilities=Capabilities(
            ramps=driver_class.supports_ramp,
            notes=(driver_class.__doc__ or "").strip(),
        ),
        faults=CHAMBER_FAULTS,
        driver=driver,
        simulator=simulator,
        probe=probe,
        plant=chamber_plant,
    )
