"""Simulated time that runs at a multiple of wall time.

A 100-cycle test at 0.5C is 400 simulated hours; with `time_scale=10_000` it takes 2.4 wall
minutes. `time_scale=math.inf` never waits: simulated time jumps from one wake-up to the next,
earliest first, like a discrete-event simulation, so concurrent sleepers still wake in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.errors import SimulatorError


class SimClock:
    """Simulated seconds since start, and async sleeps measured in simulated time."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if not (
            isinstance(time_scale, int | float) and time_scale > 0 and not math.isnan(time_scale)
        ):
            raise SimulatorError(f"time_scale {time_scale!r} must be a positive number (or inf).")
        self.time_scale = float(time_scale)
        self._wall_start = time.monotonic()
        self._virtual = 0.0  # used when time_scale is infinite
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._advance_pending = False

    @property
    def instant(self) -> bool:
        """True when simulated time never waits for the wall clock."""
        return math.isinf(self.time_scale)

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        if self.instant:
            return self._virtual
        return (time.monotonic() - self._wall_start) * self.time_scale

    def wall_seconds(self, sim_dt: float) -> float:
        """Wall time that `sim_dt` simulated seconds take (0 for an instant clock)."""
        return 0.0 if self.instant else max(0.0, sim_dt) / self.time_scale

    async def sleep(self, sim_dt: float) -> None:
        """Sleep `sim_dt` simulated seconds."""
        if sim_dt < 0 or math.isnan(sim_dt):
            raise SimulatorError(f"cannot sleep a negative or undefined time ({sim_dt} s).")
        await self.sleep_until(self.now() + sim_dt)

    async def sleep_until(self, sim_t: float) -> None:
        """Sleep until simulated time `sim_t` (returns at once if it has passed)."""
        if not self.instant:
            delay = (sim_t - self.now()) / self.time_scale
            await asyncio.sleep(max(0.0, delay))
            return
        if sim_t <= self._virtual:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (sim_t, next(self._order), future))
        self._schedule_advance(loop)
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    def _schedule_advance(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._advance_pending:
            self._advance_pending = True
            # Let every task that is ready run first (and register its own sleep), then jump.
            loop.call_soon(self._yield_then_advance, loop, 2)

    def _yield_then_advance(self, loop: asyncio.AbstractEventLoop, rounds: int) -> None:
        if rounds > 0:
            loop.call_soon(self._yield_then_advance, loop, rounds - 1)
            return
        self._advance_pending = False
        while self._waiters:
            sim_t, _, future = heapq.heappop(self._waiters)
            if future.done():  # cancelled sleeper
                continue
            self._virtual = max(self._virtual, sim_t)
            future.set_result(None)
            break
        if self._waiters:
            self._schedule_advance(loop)


@dataclass
class PlantFront:
    """A simulator in front of a plant (a chamber's air, a press): before it answers it
    brings the plant up to the clock's now, or lets `sync` bring a whole bench there."""

    plant: Any
    clock: SimClock
    sync: Callable[[], None] | None = None

    def _now(self) -> None:
        if self.sync is not None:
            self.sync()
        else:
            self.plant.advance_to(self.clock.now())
