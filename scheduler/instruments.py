"""Instruments from a bench file: what a slot can do, the drivers, and open slots.

`slot_capabilities` answers "can this slot run that job?" without connecting: it reads the
capabilities each kind's registration declares (`scheduler.kinds`). `build_instrument` makes
an unopened driver from the bench; `InstrumentPool` opens each instrument once per process
and shares chambers and rigs between the slots that sit in them; `open_slot` gives a slot's
potentiostat and its `Environment` (chamber, rig, cell area) on the bench's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from scheduler.bench import Bench, Slot
from scheduler.environment import Environment, EnvironmentSettings
from scheduler.errors import SchedulerError
from scheduler.kinds import Capabilities, InstrumentKind, kind_of


@dataclass(frozen=True)
class SlotCapabilities:
    """What a slot can do, from the bench file alone (no connection)."""

    slot: str
    potentiostat: Capabilities
    potentiostat_kind: InstrumentKind
    chamber: str | None
    chamber_ramps: bool
    rig: str | None
    cell_area_mm2: float | None
    limits: Any


def slot_capabilities(bench: Bench, slot_name: str) -> SlotCapabilities:
    slot = bench.slot(slot_name)
    pstat = bench.instrument(slot.potentiostat)
    chamber = bench.instrument(slot.chamber) if slot.chamber else None
    return SlotCapabilities(
        slot=slot.name,
        potentiostat=kind_of(pstat).capabilities_for(pstat),
        potentiostat_kind=kind_of(pstat),
        chamber=slot.chamber,
        chamber_ramps=chamber is not None and kind_of(chamber).capabilities_for(chamber).ramps,
        rig=slot.rig,
        cell_area_mm2=slot.cell_area_mm2,
        limits=slot.limits,
    )


# -- clocks ---------------------------------------------------------------------------------
class ScaledClock:
    """Wall time times a scale: 1 for hardware, the simulation's time_scale for a sim bench.

    It serves the Environment and the rig (`now`, `sleep`) and the Keithley host loop
    (`sleep_until`), so soak timers and host-side rests mean simulated seconds against a
    simulator running at that scale.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if not (time_scale > 0 and math.isfinite(time_scale)):
            raise SchedulerError(f"clock time scale {time_scale!r} must be positive and finite")
        self.time_scale = time_scale
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.time_scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.time_scale)

    async def sleep_until(self, t: float) -> None:
        await self.sleep(t - self.now())


def bench_clock(bench: Bench) -> ScaledClock:
    """The clock host-side waits use: scaled when the bench is a simulation, else wall time."""
    return ScaledClock(bench.simulation.time_scale if bench.simulation else 1.0)


# -- drivers --------------------------------------------------------------------------------
def build_instrument(bench: Bench, name: str, *, clock: Any = None, channel: int = 0) -> Any:
    """An unopened driver for one instrument of the bench (named as in the bench file)."""
    config = bench.instrument(name)
    return kind_of(config).driver(config, name, clock or bench_clock(bench), channel)


async def open_instrument(driver: Any) -> None:
    """Connect a driver built by `build_instrument` (potentiostats connect, others open)."""
    connect = getattr(driver, "connect", None) or driver.open
    await connect()


# -- the pool -------------------------------------------------------------------------------
@dataclass
class _Held:
    driver: Any
    users: int = 0


class InstrumentPool:
    """Each instrument opened once per process; closed when its last user lets go.

    Potentiostats are held per (instrument, channel); chambers and rigs are shared by every
    slot that sits in them.
    """

    def __init__(self, bench: Bench, *, clock: Any = None) -> None:
        self.bench = bench
        self.clock = clock or bench_clock(bench)
        self._held: dict[tuple[str, int], _Held] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    def is_open(self, name: str, channel: int = 0) -> bool:
        return (name, channel) in self._held

    async def acquire(self, name: str, *, channel: int = 0) -> Any:
        """The open driver for `name` (opening it on first use)."""
        key = (name, channel)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            held = self._held.get(key)
            if held is None:
                driver = build_instrument(self.bench, name, clock=self.clock, channel=channel)
                try:
                    await open_instrument(driver)
                except BaseException:
                    with contextlib.suppress(Exception):  # a rig may have opened one half
                        await driver.close()
                    raise
                held = self._held[key] = _Held(driver)
            held.users += 1
            return held.driver

    async def release(self, name: str, *, channel: int = 0) -> None:
        """One user is done; the last one closes the instrument."""
        key = (name, channel)
        held = self._held.get(key)
        if held is None:
            return
        held.users -= 1
        if held.users <= 0:
            del self._held[key]
            with contextlib.suppress(Exception):
                await held.driver.close()

    async def close(self) -> None:
        """Close every instrument, whoever still holds it."""
        held, self._held = list(self._held.values()), {}
        for item in held:
            with contextlib.suppress(Exception):
                await item.driver.close()


_default_pools: weakref.WeakKeyDictionary[Any, dict[int, InstrumentPool]] = (
    weakref.WeakKeyDictionary()
)


def default_pool(bench: Bench, clock: Any = None) -> InstrumentPool:
    """The process's pool for this bench (per event loop: drivers belong to one loop)."""
    pools = _default_pools.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get(id(bench))
    if pool is None or pool.bench is not bench:
        pool = pools[id(bench)] = InstrumentPool(bench, clock=clock)
    return pool


@dataclass
class SlotHardware:
    """A slot's open potentiostat and environment. `close()` lets go of them."""

    slot: Slot
    potentiostat: Any
    environment: Environment
    chamber_name: str | None
    rig_name: str | None
    pool: InstrumentPool = field(repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def name(self) -> str:
        return self.slot.name

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.pool.release(self.slot.potentiostat, channel=self.slot.channel)
        for name in (self.chamber_name, self.rig_name):
            if name is not None:
                await self.pool.release(name)

    async def __aenter__(self) -> SlotHardware:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_slot(
    bench: Bench,
    slot_name: str,
    *,
    pool: InstrumentPool | None = None,
    clock: Any = None,
    settings: EnvironmentSettings | None = None,
) -> SlotHardware:
    """Open a slot's potentiostat, chamber and rig (shared through the pool).

    `clock` defaults to the pool's (the bench's: scaled for a simulated bench). If any
    instrument fails to open, what was opened is let go again before the error is raised.
    """
    slot = bench.slot(slot_name)
    pool = pool or default_pool(bench, clock)
    clock = clock or pool.clock
    taken: list[tuple[str, int]] = []
    try:
        potentiostat = await pool.acquire(slot.potentiostat, channel=slot.channel)
        taken.append((slot.potentiostat, slot.channel))
        chamber = rig = None
        if slot.chamber:
            chamber = await pool.acquire(slot.chamber)
            taken.append((slot.chamber, 0))
        if slot.rig:
            rig = await pool.acquire(slot.rig)
            taken.append((slot.rig, 0))
    except BaseException:
        for name, channel in reversed(taken):
            await pool.release(name, channel=channel)
        raise
    environment = Environment(
        chamber, rig, clock, cell_area_mm2=slot.cell_area_mm2, settings=settings
    )
    # Read the conditions once, so the first samples of a run already carry them; a bad
    # reading here is left to the run, whose environment steps and safety checks report it.
    with contextlib.suppress(Exception):
        await environment.refresh()
    return SlotHardware(slot, potentiostat, environment, slot.chamber, slot.rig, pool)
