"""The safety supervisor: the bench's hard limits and the protocols' safety limits, across
devices.

Every chamber and pressure rig is read once per sample period. An over-temperature or a
failed chamber makes every running cell in that chamber safe at once; a lost stack pressure
pauses that slot. Each trip latches one alarm per slot, which an operator acknowledges; a
slot with a latched alarm is not tripped again. The time from detection to every cell being
safe is the reaction time, kept for `health()` and the daemon benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from protocols import steps as p
from scheduler import kinds
from scheduler.bench import Bench
from scheduler.run_state import RunStatus

log = logging.getLogger("cellbench.daemon")


class Watched(Protocol):
    """A running job as the supervisor sees it."""

    run_id: int | None
    runner: Any
    pending_stop: tuple[str, str] | None


class SafetySupervisor:
    """Watches the chambers and rigs of one daemon's slots; trips the jobs on them."""

    def __init__(
        self,
        bench: Bench,
        *,
        pool: Any,
        db: Any,
        telemetry: Any,
        active: Mapping[str, Watched],
        sample_period_s: float,
    ) -> None:
        self.bench = bench
        self.pool = pool
        self.db = db
        self.telemetry = telemetry
        self.active = active  # slot -> running job, the daemon's own table
        self.sample_period_s = sample_period_s
        self.reaction_times_s: list[float] = []
        self._watchers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        checks = {"chamber": self._check_chamber, "rig": self._check_rig}
        for name, config in self.bench.instruments.items():
            role = kinds.kind_of(config).role
            if role in checks:
                task = asyncio.create_task(self._watch(role, name, checks[role]))
                self._watchers.append(task)

    async def stop(self) -> None:
        for task in self._watchers:
            task.cancel()
        for task in self._watchers:
            with contextlib.suppress(BaseException):  # a watcher's end is not the stop's
                await task
        self._watchers.clear()

    async def alarmed_slots(self) -> set[str]:
        alarms = await self.db.active_alarms(self.bench.name)
        return {a.slot for a in alarms if a.slot}

    def _slots_with(self, role: str, name: str) -> list[str]:
        return [s.name for s in self.bench.slots if getattr(s, role) == name]

    def _ceiling_degC(self, slots: list[str]) -> float:
        """The tightest temperature limit of the slots (hard) and their running protocols."""
        values = [self.bench.slot(s).limits.temperature_max_degC for s in slots]
        for slot in slots:
            job = self.active.get(slot)
            if job is not None and job.runner is not None:
                values.append(job.runner.plan.safety.temperature_max_degC)
        return min((v for v in values if v is not None), default=float("inf"))

    async def _watch(
        self, role: str, name: str, check: Callable[[str, Any, list[str]], Awaitable[None]]
    ) -> None:
        """Hold the instrument and run `check(name, instrument, slots)` every sample period."""
        slots = self._slots_with(role, name)
        instrument = await self.pool.acquire(name)
        try:
            while True:
                started = time.monotonic()
                await check(name, instrument, slots)
                await asyncio.sleep(max(0.0, self.sample_period_s - (time.monotonic() - started)))
        finally:
            await self.pool.release(name)

    async def _check_chamber(self, name: str, chamber: Any, slots: list[str]) -> None:
        tripped = False
        try:
            reading = await chamber.read()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            tripped = await self.trip(
                slots, RunStatus.PAUSED, f"chamber {name} failed: {exc}", kind="chamber"
            )
        else:
            ceiling = self._ceiling_degC(slots)
            if reading.process_degC > ceiling:
                tripped = await self.trip(
                    slots,
                    RunStatus.SAFETY,
                    f"chamber {name} reads {reading.process_degC:.1f} °C, above the "
                    f"{ceiling:g} °C limit of its slots",
                    kind="over-temperature",
                )
        if tripped:
            log.warning("chamber interlock tripped", extra={"chamber": name})

    async def _check_rig(self, name: str, rig: Any, slots: list[str]) -> None:
        try:
            await rig.read()  # raises the rig's latched fault (leak, lost force, …)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self.trip(
                slots, RunStatus.PAUSED, f"stack pressure lost on {name}: {exc}", kind="pressure"
            )

    async def trip(self, slots: list[str], status: str, message: str, *, kind: str) -> bool:
        """Make every running cell of `slots` safe at once, then latch one alarm per slot.

        The cells come first: they are made safe before the database is asked anything, so
        the reaction time never includes a wait for it. Slots that already carry an
        unacknowledged alarm get no second one; returns False when nothing was tripped. The
        runs are noted before the interrupts end them, so every event names its run.
        """
        detected = time.monotonic()
        watched = {s: self.active[s] for s in slots if s in self.active}
        runs = {slot: job.run_id for slot, job in watched.items()}
        for job in watched.values():
            if job.runner is None:  # still opening its slot: its runner starts stopped
                job.pending_stop = (status, message)
        targets = [job.runner for job in watched.values() if job.runner is not None]
        await asyncio.gather(
            *(runner.interrupt(status, message) for runner in targets), return_exceptions=True
        )
        reaction = time.monotonic() - detected
        if targets:
            self.reaction_times_s.append(reaction)
        alarmed = await self.alarmed_slots()
        fresh = [s for s in slots if s not in alarmed]
        if not fresh:
            return bool(targets)
        for slot in fresh:
            await self.db.add_event(
                kind,
                f"slot {slot}: {message}",
                run_id=runs.get(slot),
                severity="alarm",
                bench=self.bench.name,
                slot=slot,
                data={"reaction_s": reaction if slot in watched else None, "action": status},
            )
            if self.telemetry is not None:
                self.telemetry.event(
                    kind, f"slot {slot}: {message}", slot=slot, reaction_s=reaction
                )
        return True


def hard_limits(limits: Any) -> p.Safety:
    """A slot's hard limits as a Safety the runner checks on every sample."""
    pressure_max = getattr(limits, "pressure_max_MPa", None)
    return p.Safety(
        voltage_min_V=getattr(limits, "voltage_min_V", None),
        voltage_max_V=getattr(limits, "voltage_max_V", None),
        abs_current_max_A=getattr(limits, "abs_current_max_A", None),
        temperature_max_degC=getattr(limits, "temperature_max_degC", None),
        pressure_max_Pa=pressure_max * 1e6 if pressure_max is not None else None,
    )
