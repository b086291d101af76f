"""Alicat PC pressure-controller simulator (ASCII, commands and replies end in `\\r`).

Commands (reference/instruments.md 3.1), unit id `A` by default, case-insensitive:
`A` polls the data frame `A +<pressure> +<setpoint> [HLD] [POV]` in the unit's engineering
unit (PSIG here); `AS <value>` (or `AS<value>`) sets the setpoint and answers with the frame;
`A<integer>` is the legacy setpoint where 64000 is full scale; `AHP` holds the valve where it
is, `AHC` holds it closed, `AC` cancels a hold, `AP` tares. Anything else answers `?`. Lines
addressed to another unit id get no answer, as on a shared RS-485 line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from simulators.lineserver import LineInstrument
from simulators.press import PressPlant

PA_PER_PSI = 6894.757293168
NUMBER = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"


@dataclass
class AlicatSimulator(LineInstrument):
    """One simulated Alicat PC on the press's gas line."""

    terminator: ClassVar[str] = "\r"
    label: ClassVar[str] = "Alicat"

    plant: PressPlant
    unit_id: str = "A"
    full_scale_psig: float = 150.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tare_Pa = 0.0

    def frame(self) -> str:
        plant = self.plant
        pressure = (plant.gas_Pa - self._tare_Pa) / PA_PER_PSI
        setpoint = plant.setpoint_Pa / PA_PER_PSI
        status = []
        if plant.hold:
            status.append("HLD")
        if pressure > 1.02 * self.full_scale_psig:
            status.append("POV")
        return " ".join([self.unit_id, f"{pressure:+08.2f}", f"{setpoint:+08.2f}", *status])

    async def handle(self, line: str) -> list[str]:
        text = line.strip().upper()
        if not text.startswith(self.unit_id):
            return []
        self._now()
        self.commands.append(text)
        body = text[len(self.unit_id) :].strip()
        plant = self.plant
        if body == "":
            return [self.frame()]
        if match := re.fullmatch(rf"S\s*({NUMBER})", body):
            value = float(match.group(1))
            if not 0.0 <= value <= self.full_scale_psig:
                return ["?"]
            plant.set_setpoint(min(value * PA_PER_PSI, plant.params.supply_Pa))
            return [self.frame()]
        if re.fullmatch(r"\d+", body):
            value = int(body)
            if value > 64000:
                return ["?"]
            plant.set_setpoint(
                min(value / 64000 * self.full_scale_psig * PA_PER_PSI, plant.params.supply_Pa)
            )
            return [self.frame()]
        if body in ("HP", "HC", "C"):
            plant.set_hold({"HP": "position", "HC": "closed", "C": ""}[body])
            return [self.frame()]
        if body == "P":
            self._tare_Pa = plant.gas_Pa
            return [self.frame()]
        return ["?"]
