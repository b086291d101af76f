"""A job a daemon runs on one slot, and how its progress reaches telemetry and `status`.

Telemetry gets the latest sample once per sample period; the stored slot state (what
`status` reads) is written at most every SLOT_STATE_EVERY_S wall seconds, off the event loop,
with states that arrive meanwhile coalesced. Steps starting and ending are written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from scheduler.instruments import SlotHardware
from scheduler.jobs import SlotState
from scheduler.run_state import RunState
from scheduler.runner import Runner

# Wall seconds between writes of a running slot's live state to the database.
SLOT_STATE_EVERY_S = 5.0


@dataclass
class ActiveJob:
    """A job this daemon is running (or holding paused) on one slot."""

    job_id: int
    slot: str
    group: str | None = None
    changes_temperature: bool = False
    run_id: int | None = None
    runner: Runner | None = None
    task: asyncio.Task[None] | None = None
    hardware: SlotHardware | None = None
    on_device: bool = False
    last_published: float = 0.0
    progress_estimate_s: float | None = None
    state_written: float = 0.0
    slot_state: dict[str, Any] | None = None  # the latest live state not yet written
    slot_writer: asyncio.Task[None] | None = None  # writes it, off the event loop
    reattaching: bool = False  # resumed to re-attach a step that may run on the instrument
    stopping: bool = False  # the daemon is stopping it; the stop settles the job's state
    pending_stop: tuple[str, str] | None = None  # a trip that came before its runner

    @property
    def detaching(self) -> bool:
        return self.runner is not None and self.runner.detached


def _fields(active: ActiveJob, state: RunState) -> dict[str, Any]:
    step = state.step
    return {
        "job": active.job_id,
        "run": active.run_id,
        "cycle": state.cycle,
        "step": state.step_count,
        "step_label": (step.label or step.kind) if step else "",
        "voltage_V": state.voltage_V,
        "current_A": state.current_A,
        "test_time_s": state.test_time_s,
        "record_index": state.record_index,
    }


def _slot_state(active: ActiveJob, state: RunState, label: str) -> dict[str, Any]:
    total = active.progress_estimate_s
    step = state.step
    return dict(
        state=SlotState.RUNNING,
        job_id=active.job_id,
        run_id=active.run_id,
        step_index=step.index if step else None,
        step_label=label,
        cycle=state.cycle,
        voltage_V=state.voltage_V,
        current_A=state.current_A,
        progress=min(1.0, state.test_time_s / total) if total else None,
        remaining_s=(total - state.test_time_s) if total else None,
    )


class SlotReporter:
    """The runner's progress callback for one slot: telemetry now, the database lazily."""

    def __init__(
        self, active: ActiveJob, *, db: Any, bench: str, telemetry: Any, sample_period_s: float
    ) -> None:
        self.active = active
        self.db = db
        self.bench = bench
        self.telemetry = telemetry
        self.sample_period_s = sample_period_s

    def __call__(self, event: str, state: RunState) -> None:
        active, now = self.active, time.monotonic()
        if event == "sample" and now - active.last_published < self.sample_period_s:
            return
        active.last_published = now
        fields = _fields(active, state)
        if self.telemetry is not None:
            self.telemetry.sample(active.slot, **fields)
            if event != "sample":
                self.telemetry.slot_state(active.slot, state=SlotState.RUNNING, **fields)
        if event == "sample" and now - active.state_written < SLOT_STATE_EVERY_S:
            return  # telemetry is live; the stored slot state may trail it a little
        active.state_written = now
        active.slot_state = _slot_state(active, state, fields["step_label"])
        if active.slot_writer is None or active.slot_writer.done():
            active.slot_writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        """Write the slot's latest live state (a database write can wait for a lock)."""
        active = self.active
        while (fields := active.slot_state) is not None:
            active.slot_state = None
            with contextlib.suppress(Exception):
                await self.db.upsert_slot_state(self.bench, active.slot, **fields)
