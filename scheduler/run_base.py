"""What every runner shares, so the daemon can drive any of them the same way.

A run ends the same way whichever instrument runs it: each stop (an interruption, a
safety trip, an instrument or run error, the host going away) becomes the same run status
and event, the cell is made safe, the stored samples are flushed and the run is finished
in storage. `Runner` (step by step) and `ScheduleRunner` (a whole schedule on a cycler)
add how the plan's steps are run.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import Any

import numpy as np

from drivers.errors import InstrumentError
from protocols import steps as p
from scheduler.errors import SchedulerError
from scheduler.run_state import (
    Interrupted,
    Progress,
    ResumePoint,
    RunResult,
    RunState,
    RunStatus,
    SafetyTrip,
    safety_breach,
)
from storage import AsyncStore


class RunBase:
    """A bound plan (`plan`) run on one channel (`potentiostat`), stored under `run_id`."""

    completed_message = ""  # the message of a run that went to its end
    safe_after_interrupt = True  # make the cell safe once an interrupted run has stopped

    def __init__(
        self,
        plan: Any,
        potentiostat: Any,
        store: Any,
        run_id: int,
        *,
        one_c_A: float | None = None,
        progress: Progress | None = None,
        environment: Any = None,
    ) -> None:
        self.plan = plan
        self.potentiostat = potentiostat
        self.db = AsyncStore.of(store)  # the database, reached off the event loop
        self.run_id = run_id
        self.one_c_A = one_c_A
        self.progress = progress or (lambda event, state: None)
        self.environment = environment
        self.state = RunState()
        self.extra_safety: list[p.Safety] = []  # e.g. the bench's hard limits for the slot
        # "sample" progress comes every 256 records, or, when `progress_every_s` is set,
        # every that many wall seconds: live telemetry then sees the latest sample at that
        # cadence however slowly the protocol records (256 points at 10 s are 43 minutes).
        self.progress_every_s: float | None = None
        self._progressed_at = -math.inf
        self.detached = False
        self._interrupt: tuple[str, str] | None = None
        self._rows: dict[str, list[float]] = {}
        self._pushed_at = time.monotonic()
        self._writer: Any = None
        self._wall_start = time.time()
        self._host_task: asyncio.Task[float] | None = None  # a chamber or rig step running

    # -- the daemon's interface ------------------------------------------------------------------
    async def run(self, resume: ResumePoint | None = None) -> RunResult:
        """Run the plan to its end, or continue it from `resume` after an interruption."""
        result = RunResult(RunStatus.COMPLETED, self.completed_message)
        self._writer = await self.db.open_writer(self.run_id)
        await self._prepare(resume)
        try:
            await self._run_steps(resume, result)
        except Interrupted as stop:
            result.status, result.message = stop.status, str(stop)
            if self.safe_after_interrupt:
                await self._make_safe()
        except SafetyTrip as trip:
            result.status, result.message = RunStatus.SAFETY, str(trip)
            await self._make_safe()
            await self.db.add_event("safety", str(trip), run_id=self.run_id, severity="alarm")
        except (InstrumentError, SchedulerError) as exc:
            kind = "instrument" if isinstance(exc, InstrumentError) else "run"
            result.status, result.message = RunStatus.FAILED, str(exc)
            # The event does not wait for the cell: a stalled instrument cannot confirm it.
            event = self.db.add_event(kind, str(exc), run_id=self.run_id, severity="error")
            await asyncio.gather(self._make_safe(), event)
        except (asyncio.CancelledError, KeyboardInterrupt):
            if self.detached:
                # The host goes away but the step runs on: it is re-attached on restart.
                result.status, result.message = RunStatus.INTERRUPTED, "the host stopped"
            else:
                result.status, result.message = RunStatus.ABORTED, "stopped by the operator"
                await self._make_safe()
            raise
        finally:
            self._let_go()
            self._push()
            # The writer commits on its own thread and connection: its close waits there,
            # not in the store's one thread, so many runs ending at once close side by side.
            await asyncio.to_thread(self._writer.close)
            await self.db.finish_run(self.run_id, result.status, result.message)
            self._finished()
            result.state = self.state
            self.progress("finished", self.state)
        return result

    def detach(self) -> None:
        """Let the host stop without touching the instrument: the running on-device step
        (or schedule) keeps going and is re-attached when the daemon starts again. Cancel
        the run's task after calling this."""
        self.detached = True

    # -- what each runner does its own way -------------------------------------------------------
    async def _prepare(self, resume: ResumePoint | None) -> None:
        """Before the steps run: where a resumed run continues (its errors are not a run's)."""

    async def _run_steps(self, resume: ResumePoint | None, result: RunResult) -> None:
        """Run the plan's steps, noting in `result` a run that ends early by its own rule."""
        raise NotImplementedError

    def _let_go(self) -> None:
        """Once the run has stopped, before its last samples are stored."""

    def _finished(self) -> None:
        """Once the run's end is stored."""

    # -- interruptions -----------------------------------------------------------------------------
    def _note_interrupt(self, status: str, reason: str) -> None:
        """Remember the first stop asked for, and cancel a chamber or rig step under way."""
        if self._interrupt is None:
            self._interrupt = (status, reason)
        if self._host_task is not None and not self._host_task.done():
            self._host_task.cancel()

    def _check_interrupt(self) -> None:
        if self._interrupt is not None:
            raise Interrupted(*self._interrupt)

    async def _on_host(self, apply: Awaitable[float]) -> float:
        """Run a chamber or rig step (`apply` returns its seconds); interrupt() cancels it,
        and the run then ends with the interruption's status."""
        self._host_task = asyncio.ensure_future(apply)
        try:
            return await self._host_task
        except asyncio.CancelledError:
            self._check_interrupt()
            raise
        finally:
            self._host_task = None

    def _safety_breach(self, voltage: float, current: float, charge_Ah: float) -> str | None:
        """The first limit of the protocol's safety block, or of the slot's hard limits, that a
        sample breaks, in words (`charge_Ah`: the step's |charge| so far), or None."""
        for safety in (self.plan.safety, *self.extra_safety):
            if breach := safety_breach(safety, voltage, current, charge_Ah):
                return breach
        return None

    async def _make_safe(self) -> None:
        try:
            await asyncio.wait_for(self.potentiostat.safe(), 10.0)
        except Exception:  # best effort; the failure itself is already being reported
            pass

    def _continue_counters(self, resume: ResumePoint) -> None:
        """Count on from where the interrupted run had counted."""
        self.state = resume.counters
        if resume.unix_anchor_s is not None:  # Unix time stays test time + the same anchor
            self._wall_start = resume.unix_anchor_s

    # -- storage -----------------------------------------------------------------------------------
    def _sample_row(
        self,
        test_time: float,
        step_index: int,
        voltage: float,
        current: float,
        temperature: float,
        pressure: float,
    ) -> None:
        """One sample with the run's counters, kept for the writer."""
        state = self.state
        values = dict(
            test_time_s=test_time,
            unix_time_s=self._wall_start + test_time,
            voltage_V=voltage,
            current_A=current,
            cycle=state.cycle,
            step_count=state.step_count,
            step_index=step_index,
            step_time_s=state.step_time_s,
            record_index=state.record_index,
            charge_capacity_Ah=state.charge_Ah,
            discharge_capacity_Ah=state.discharge_Ah,
            charge_energy_Wh=state.charge_Wh,
            discharge_energy_Wh=state.discharge_Wh,
            temperature_degC=temperature,
            pressure_Pa=pressure,
        )
        for key, value in values.items():
            self._rows.setdefault(key, []).append(value)

    def _push(self) -> None:
        if self._rows and self._writer is not None:
            self._writer.append({k: np.asarray(v) for k, v in self._rows.items()})
        self._rows = {}
        self._pushed_at = time.monotonic()

    async def _journal_step(self, step: p.Step, started: float, data: dict[str, Any]) -> None:
        await self.db.start_step(
            self.run_id,
            step_count=self.state.step_count,
            step_index=step.index,
            kind=step.kind,
            label=step.label,
            started_at_s=started,
            cycle=self.state.cycle,
            data=data,
        )

    def _sample_progress(self) -> None:
        state = self.state
        if self.progress_every_s is None:
            if state.record_index % 256 == 0:
                self.progress("sample", state)
        elif (now := time.monotonic()) - self._progressed_at >= self.progress_every_s:
            self._progressed_at = now
            self.progress("sample", state)
