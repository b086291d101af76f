"""A simulated bench: one chamber plant, one press plant and the cells they act on.

Time: every plant is advanced to `clock.now()` on demand (each simulator does so before it
answers a command) and by a background task every `tick_s` of wall time, so cells see their
temperature and stack pressure change while nobody is talking to the instruments. The clock
must run at a finite time scale (1e3-1e5 in tests): the plants evolve continuously with
simulated time, which an instant (event-driven) clock does not provide. The plants integrate
exactly (press) or on a fixed 1 s grid (chamber), so how often `sync` runs does not change
the physics.

Wiring: chamber air → each cell's first-order thermal lag → `cell.set_temperature`; chamber
air → the press's load-cell temperature; press stack pressure → `cell.set_pressure` for the
cells in the press (a solid-state cell's contact resistance follows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol

from simulators.clock import SimClock
from simulators.errors import SimulatorError
from simulators.press import PressPlant
from simulators.thermal import ChamberPlant, ThermalLoad

log = logging.getLogger(__name__)


class BenchCell(Protocol):
    def set_temperature(self, degC: float) -> None: ...
    def set_pressure(self, MPa: float) -> None: ...


@dataclass
class Placement:
    cell: Any
    load: ThermalLoad | None
    pressed: bool


class SimulatedBench:
    """Plants and cells on one SimClock, integrated by a background task."""

    def __init__(
        self,
        clock: SimClock,
        *,
        chamber: ChamberPlant | None = None,
        press: PressPlant | None = None,
        tick_s: float = 0.005,
    ) -> None:
        if clock.instant:
            raise SimulatorError(
                "a simulated bench needs a clock with a finite time_scale; the plants evolve "
                "continuously with simulated time."
            )
        self.clock = clock
        self.chamber = chamber
        self.press = press
        self.tick_s = tick_s
        self.placements: list[Placement] = []
        self._task: asyncio.Task[None] | None = None

    def add_cell(
        self, cell: Any, *, thermal_lag_s: float = 300.0, in_press: bool = True
    ) -> ThermalLoad | None:
        """Put a cell in the chamber (with its lag behind the air) and, if asked, in the press."""
        for name in ("set_temperature", "set_pressure"):
            if not callable(getattr(cell, name, None)):
                raise SimulatorError(f"a bench cell needs a {name}() method.")
        load = None
        if self.chamber is not None:
            start = getattr(cell, "temperature_degC", None)
            load = self.chamber.add_load(thermal_lag_s, start)
        self.placements.append(Placement(cell, load, in_press and self.press is not None))
        self._push()
        return load

    def sync(self) -> None:
        """Advance every plant to the clock's now and hand the results to the cells."""
        now = self.clock.now()
        if self.chamber is not None:
            self.chamber.advance_to(now)
            if self.press is not None:
                self.press.load_cell_degC = self.chamber.air_degC
        if self.press is not None:
            self.press.advance_to(now)
        self._push()

    def _push(self) -> None:
        for placement in self.placements:
            if placement.load is not None and math.isfinite(placement.load.degC):
                placement.cell.set_temperature(placement.load.degC)
            if placement.pressed and self.press is not None:
                placement.cell.set_pressure(self.press.stack_pressure_MPa)

    async def _run(self) -> None:
        while True:
            try:
                self.sync()
            except Exception:  # keep the bench alive; the instruments report the symptom
                log.exception("simulated bench failed to advance")
            await asyncio.sleep(self.tick_s)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> SimulatedBench:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
