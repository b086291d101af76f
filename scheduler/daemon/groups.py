"""Jobs that share one chamber's temperature schedule, and each member's view of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from protocols import steps as p


@dataclass
class ChamberGroup:
    """Jobs that share one chamber's temperature schedule.

    Each member's temperature step waits until every member still running reaches its
    matching step; one of them then drives the chamber (with the soak), and all continue.
    """

    name: str
    members: set[int] = field(default_factory=set)
    _arrived: dict[int, set[int]] = field(default_factory=dict)
    _done: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    _counts: dict[int, int] = field(default_factory=dict)

    def leave(self, job_id: int) -> None:
        self.members.discard(job_id)
        for number in list(self._arrived):
            self._maybe_release(number)

    def _maybe_release(self, number: int) -> None:
        arrived = self._arrived.get(number, set())
        future = self._done.get(number)
        if future is not None and not future.done() and self.members <= arrived:
            future.set_result(0.0)

    async def wait_turn(self, job_id: int) -> int:
        """Arrive at this member's next temperature step; returns the step's number."""
        number = self._counts.get(job_id, 0)
        self._counts[job_id] = number + 1
        loop = asyncio.get_running_loop()
        self._arrived.setdefault(number, set()).add(job_id)
        future = self._done.setdefault(number, loop.create_future())
        self._maybe_release(number)
        await asyncio.shield(future)
        return number


class GroupEnvironment:
    """A member's view of its slot environment inside a chamber group."""

    def __init__(self, own: Any, group: ChamberGroup, job_id: int, leaders: dict) -> None:
        self.own = own
        self.group = group
        self.job_id = job_id
        self._leaders = leaders  # step number -> task doing the chamber step, shared

    @property
    def temperature_degC(self) -> float:
        return self.own.temperature_degC

    @property
    def pressure_MPa(self) -> float:
        return self.own.pressure_MPa

    async def refresh(self) -> None:
        await self.own.refresh()

    async def apply(self, step: Any, **options: Any) -> float:
        """The group's shared temperature step (a resumed soak's `options` are the leader's)."""
        if not isinstance(step, p.SetTemperature):
            return await self.own.apply(step, **options)
        started = self.own.clock.now()
        number = await self.group.wait_turn(self.job_id)
        task = self._leaders.get(number)
        if task is None:  # the first member through drives the chamber for everyone
            task = asyncio.ensure_future(self.own.apply(step, **options))
            self._leaders[number] = task
        await asyncio.shield(task)
        await self.own.refresh()  # the shared chamber, read through this slot's environment
        return self.own.clock.now() - started
