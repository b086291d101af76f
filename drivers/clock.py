"""The clock host-side waits run on: wall time for hardware, a scaled clock for simulators.

Anything with these three methods will do (the scheduler passes a bench's scaled clock, the
simulators' SimClock has the same shape), so a host-side loop, a soak timer or a force loop
means the same seconds against a real instrument and against a simulator at any time scale.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, t: float) -> None: ...


class WallClock:
    """Seconds of real time (monotonic)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.now()))
