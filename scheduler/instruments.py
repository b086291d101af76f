"""Instruments from a bench file: what each kind can do, the drivers, and open slots.

`STATIC_CAPABILITIES` answers "can this slot run that job?" without connecting: it holds the
drivers' own `capabilities()` answers (they never touch the wire). `build_instrument` makes
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
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from drivers.potentiostat import Capabilities
from scheduler.bench import (
    CHAMBER_KINDS,
    POTENTIOSTAT_KINDS,
    RIG_KINDS,
    Bench,
    EmStat4Config,
    EspecConfig,
    Keithley2450Config,
    PressureRigConfig,
    Slot,
    WatlowF4TConfig,
)
from scheduler.environment import Environment, EnvironmentSettings
from scheduler.errors import SchedulerError

T = TypeVar("T")

KIND_ROLES = {
    **{kind: "potentiostat" for kind in POTENTIOSTAT_KINDS},
    **{kind: "chamber" for kind in CHAMBER_KINDS},
    **{kind: "rig" for kind in RIG_KINDS},
}
PLACEHOLDER_TCP = "tcp://127.0.0.1:1"  # drivers parse their endpoint; capabilities ignore it


def _without_io(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never awaits (a driver's `capabilities()`) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("capabilities() awaited I/O; it cannot be read without connecting")


def _static_capabilities() -> dict[str, Capabilities]:
    from drivers.chambers.espec import EspecChamber
    from drivers.chambers.watlow_f4t import WatlowF4T
    from drivers.potentiostats.emstat4 import EmStat4
    from drivers.potentiostats.keithley2450 import Keithley2450

    caps = {
        "emstat4": _without_io(EmStat4(PLACEHOLDER_TCP).capabilities()),
        "keithley2450": _without_io(Keithley2450("TCPIP0::127.0.0.1::1::SOCKET").capabilities()),
    }
    for kind, chamber in (("espec", EspecChamber), ("watlow-f4t", WatlowF4T)):
        caps[kind] = Capabilities(
            techniques=frozenset(),
            max_abs_current_A=0.0,
            voltage_range_V=(0.0, 0.0),
            on_device_limits=chamber.supports_ramp,
            can_reattach=False,
            notes=(chamber.__doc__ or "").strip(),
            extra={"role": "chamber", "supports_ramp": str(chamber.supports_ramp).lower()},
        )
    caps["pressure-rig"] = Capabilities(
        techniques=frozenset(),
        max_abs_current_A=0.0,
        voltage_range_V=(0.0, 0.0),
        on_device_limits=False,  # the force loop and interlocks run on the host
        can_reattach=False,
        notes="Alicat PC + Mark-10: a host-side force loop holds the stack pressure.",
        extra={"role": "rig"},
    )
    for kind in POTENTIOSTAT_KINDS:
        caps[kind] = replace(caps[kind], extra={**caps[kind].extra, "role": "potentiostat"})
    return caps


# Potentiostat kinds carry techniques, max |I|, voltage range and whether limits run on the
# instrument; chamber and rig kinds say their role (and for chambers, on_device_limits means
# "ramps on the controller").
STATIC_CAPABILITIES: dict[str, Capabilities] = _static_capabilities()


@dataclass(frozen=True)
class SlotCapabilities:
    """What a slot can do, from the bench file alone (no connection)."""

    slot: str
    potentiostat: Capabilities
    chamber: str | None
    chamber_ramps: bool
    rig: str | None
    cell_area_mm2: float | None
    limits: Any


def slot_capabilities(bench: Bench, slot_name: str) -> SlotCapabilities:
    slot = bench.slot(slot_name)
    chamber_kind = bench.instrument(slot.chamber).kind if slot.chamber else None
    return SlotCapabilities(
        slot=slot.name,
        potentiostat=STATIC_CAPABILITIES[bench.instrument(slot.potentiostat).kind],
        chamber=slot.chamber,
        chamber_ramps=bool(chamber_kind and STATIC_CAPABILITIES[chamber_kind].on_device_limits),
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
    clock = clock or bench_clock(bench)
    if isinstance(config, EmStat4Config):
        from drivers.potentiostats.emstat4 import EmStat4

        return EmStat4(
            config.endpoint,
            name=name,
            channel=channel,
            timeout_s=config.timeout_s,
            invert_current=config.invert_current,
        )
    if isinstance(config, Keithley2450Config):
        from drivers.potentiostats.keithley2450 import Keithley2450

        return Keithley2450(
            config.endpoint,
            name=name,
            timeout_s=config.timeout_s,
            four_wire=config.four_wire,
            nplc=config.nplc,
            max_voltage_V=config.max_voltage_V,
            clock=clock,
        )
    if isinstance(config, EspecConfig):
        from drivers.chambers.espec import EspecChamber

        return EspecChamber(
            config.endpoint, name=name, address=config.address, timeout_s=config.timeout_s
        )
    if isinstance(config, WatlowF4TConfig):
        from drivers.chambers.watlow_f4t import WatlowF4T

        return WatlowF4T(
            config.endpoint,
            name=name,
            loop=config.loop,
            device_id=config.device_id,
            timeout_s=config.timeout_s,
        )
    if isinstance(config, PressureRigConfig):
        from drivers.pressure.alicat import AlicatPC
        from drivers.pressure.mark10 import Mark10Gauge
        from drivers.pressure.rig import PneumaticPressRig, RigSettings

        return PneumaticPressRig(
            AlicatPC(
                config.controller,
                name=f"{name} controller",
                unit_id=config.unit_id.upper(),
                full_scale=config.full_scale_psig,
                timeout_s=config.timeout_s,
            ),
            Mark10Gauge(config.gauge, name=f"{name} gauge", timeout_s=config.timeout_s),
            RigSettings(
                piston_area_mm2=config.piston_area_mm2,
                friction_N=config.friction_N,
                max_force_N=config.max_force_N,
                period_s=config.period_s,
            ),
            name=name,
            clock=clock,
        )
    raise SchedulerError(f"instrument {name!r} has a kind this version cannot drive")


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
