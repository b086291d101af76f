"""Mark-10 Series 5 force-gauge simulator (commands end CR or CRLF, replies end CRLF).

`?` (and `?C`) answer the present reading as `<value> N`, compression positive; `?PC` the
peak compression since the last `CLR`; `RN`… identity. Unknown commands answer `*10`
(illegal command). The reading comes from the press's load cell, so it carries the cell's
temperature error and any injected drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulators.lineserver import LineInstrument
from simulators.press import PressPlant


@dataclass
class Mark10Simulator(LineInstrument):
    """One simulated Mark-10 gauge reading the press's load cell."""

    terminator: ClassVar[str] = "\r\n"
    label: ClassVar[str] = "Mark-10"

    plant: PressPlant
    capacity_N: float = 2500.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peak_N = 0.0

    async def handle(self, line: str) -> list[str]:
        text = line.strip().upper()
        self._now()
        self.commands.append(text)
        if text in ("?", "?C"):
            value = self.plant.load_cell_N()
            self.peak_N = max(self.peak_N, value)
            if value > 1.1 * self.capacity_N:
                return ["*22"]  # beyond the gauge's range
            return [f"{value:.1f} N"]
        if text == "?PC":
            return [f"{self.peak_N:.1f} N"]
        if text == "CLR":
            self.peak_N = 0.0
            return ["R"]
        if text == "RN":
            return ["M5-500-SIM"]
        return ["*10"]
