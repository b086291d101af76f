"""What the potentiostat kinds share: how `bench check` asks one who it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.kinds.base import (
    Capabilities,
    DriverFactory,
    InstrumentKind,
    InstrumentSettings,
    SimulatorFactory,
)


async def identify_potentiostat(driver: Any) -> tuple[dict[str, str], str]:
    """A potentiostat's `probe`: its identity, no reading."""
    identity = await driver.identify()
    return {
        "vendor": identity.vendor,
        "model": identity.model,
        "serial": identity.serial,
        "firmware": identity.firmware,
    }, ""


def potentiostat_kind(
    label: str,
    config: type[InstrumentSettings],
    capabilities: Capabilities,
    faults: Mapping[str, str],
    driver: DriverFactory,
    simulator: SimulatorFactory,
    **more: Any,
) -> InstrumentKind:
    """A potentiostat kind: `bench check` asks it only who it is."""
    return InstrumentKind(
        label=label,
        role="potentiostat",
        config=config,
        capabilities=capabilities,
        faults=faults,
        driver=driver,
        simulator=simulator,
        probe=identify_potentiostat,
        **more,
    )
