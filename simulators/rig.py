"""The pneumatic press as a bench sees it: an Alicat PC on the gas line and a Mark-10 on the
load cell, in front of one press plant. Faults hit the plant (leak, load-cell drift, a stuck
valve) or both instruments' links (drop, stall)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from simulators.alicat import AlicatSimulator
from simulators.clock import PlantFront
from simulators.faults import LINK_FAULTS, check_fault
from simulators.mark10 import Mark10Simulator
from simulators.press import PRESS_FAULTS, PressPlant


@dataclass
class PressRigSimulator(PlantFront):
    """The press's two instruments (`controller`, `gauge`) on one plant and one clock."""

    FAULTS: ClassVar[tuple[str, ...]] = (*PRESS_FAULTS, *LINK_FAULTS)

    plant: PressPlant
    unit_id: str = "A"
    full_scale_psig: float = 150.0

    def __post_init__(self) -> None:
        self.controller = AlicatSimulator(
            self.plant,
            self.clock,
            sync=self.sync,
            unit_id=self.unit_id,
            full_scale_psig=self.full_scale_psig,
        )
        self.gauge = Mark10Simulator(self.plant, self.clock, sync=self.sync)

    def inject(self, fault: str, *, value: Any = None, **_: Any) -> None:
        """A press fault (`PressPlant.inject`) or a link fault on both instruments."""
        check_fault(fault, self.FAULTS, "pressure rig")
        if fault in LINK_FAULTS:
            self.controller.link_fault(fault)
            self.gauge.link_fault(fault)
        else:
            self.plant.inject(fault, value)

    def clear(self) -> None:
        self.plant.clear_faults()
        self.controller.clear_link()
        self.gauge.clear_link()

    def state(self) -> dict[str, Any]:
        connections = self.controller.server.connections + self.gauge.server.connections
        return {**self.plant.state(), "connections": connections}

    async def stop(self) -> None:
        await self.controller.stop()
        await self.gauge.stop()
