"""Mark-10 Series 5 force-gauge simulator (commands end CR or CRLF, replies end CRLF).

`?` (and `?C`) answer the present reading as `<value> N`, compression positive; `?PC` the
peak compression since the last `CLR`; `RN`… identity. Unknown commands answer `*10`
(illegal command). The reading comes from the press's load cell, so it carries the cell's
temperature error and any injected drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.clock import SimClock
from simulators.lineserver import LineServer
from simulators.press import PressPlant


@dataclass
class Mark10Simulator:
    """One simulated Mark-10 gauge reading the press's load cell."""

    plant: PressPlant
    clock: SimClock
    sync: Callable[[], None] | None = None
    capacity_N: float = 2500.0
    server: LineServer = field(init=False)

    def __post_init__(self) -> None:
        self.server = LineServer(self.handle, terminator="\r\n", name="Mark-10")
        self.peak_N = 0.0
        self.commands: list[str] = []

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        return await self.server.start_tcp(host, port)

    async def start_pty(self) -> str:
        return await self.server.start_pty()

    async def stop(self) -> None:
        await self.server.stop()

    def _now(self) -> None:
        if self.sync is not None:
            self.sync()
        else:
            self.plant.advance_to(self.clock.now())

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
