"""Run one protocol on one potentiostat channel, streaming every sample into storage.

The runner walks the protocol's sequencer, turns each step into a driver command, keeps
the Battery Data Format counters (test time, cycle, step count, cumulative capacity and
energy), evaluates host-side limits and the protocol's safety limits, and journals each
step's start and end.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

from drivers.errors import InstrumentError
from drivers.potentiostat import Gap, ImpedancePoint, Potentiostat, Reattached, Sample, StepEnd
from drivers.relaxation import DriftWatch
from protocols import steps as p
from protocols.sequencer import Sequencer
from scheduler import crashpoints
from scheduler.errors import SchedulerError
from scheduler.reattach import lost_end
from scheduler.resumed import abandon_step, soak_journal, soaked_by_now
from scheduler.run_base import RunBase
from scheduler.run_state import (
    Interrupted,
    ResumePoint,
    RunResult,
    RunStatus,
    SafetyTrip,
    StepResult,
    journaled_counters,
)
from scheduler.step_tally import StepTally, check_host
from scheduler.translate import Translation, translate_phases
from storage import StorageError

__all__ = ["Runner"]

BATCH_ROWS = 512
# Wall seconds a sample may wait in the runner before it goes to the writer, which commits
# within its own flush interval: stored data then trails the instrument by under a second
# however slowly the protocol records (512 points at 10 s would be 85 minutes).
PUSH_INTERVAL_S = 0.25
ENVIRONMENT_POLL_S = 60.0  # simulated/step seconds between chamber and rig readings


class Runner(RunBase):
    """Executes a bound protocol (a Plan) on one potentiostat channel."""

    potentiostat: Potentiostat

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes `RunBase`'s arguments."""
        super().__init__(*args, **kwargs)
        self._refresh: asyncio.Task[None] | None = None
        self._refreshed_at = -math.inf
        self._quiet = asyncio.Event()  # set while no step is driving the instrument
        self._quiet.set()
        self._host_fired: p.Limit | None = None  # a host-side limit that ended the step
        self._quantities: frozenset[str] | None = None  # limits the instrument evaluates
        self._drifts: dict[p.Limit, DriftWatch] = {}  # host-side |dV/dt| of the running step
        self._resume: ResumePoint | None = None
        self._attach_after: int | None = None
        self._step_wall = time.time()  # Unix time at the running step's start
        self._step_journal: dict[str, Any] = {}
        self._resume_soak: float | None = None  # wall time a resumed step's soak began
        self.time_scale = 1.0  # bench seconds per wall second (a simulated bench's scale)
        self._opening: tuple[Sequencer, p.StepOutcome | None] | None = None

    def _push_due(self) -> None:
        """Hand the samples to the writer once a batch is full or has waited long enough."""
        if (
            len(self._rows["test_time_s"]) >= BATCH_ROWS
            or time.monotonic() - self._pushed_at >= PUSH_INTERVAL_S
        ):
            self._push()

    # -- main loop --------------------------------------------------------------------------
    async def _prepare(self, resume: ResumePoint | None) -> None:
        self._opening = self._restore(resume)
        if resume is not None and resume.step_open and not resume.attach:
            await abandon_step(self, resume)

    async def _run_steps(self, resume: ResumePoint | None, result: RunResult) -> None:
        assert self._opening is not None
        sequencer, outcome = self._opening
        attach = resume is not None and resume.attach
        while (step := sequencer.next(outcome)) is not None:
            self.state.cycle = sequencer.cycle
            if isinstance(step, p.AdvanceCycle):
                outcome = p.StepOutcome(None, "completed")
                continue
            self._check_interrupt()
            step_result = await self._run_step(step, attach=attach)
            attach = False
            self._check_interrupt()
            result.steps.append(step_result)
            outcome = p.StepOutcome(step_result.fired, step_result.end_reason)
            if step_result.fired is not None and step_result.fired.action == "abort":
                result.status, result.message = RunStatus.ABORTED, step_result.end_reason
                break

    def _let_go(self) -> None:
        self._quiet.set()
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()

    def _finished(self) -> None:
        crashpoints.point("run_finished", self.run_id)

    def _restore(self, resume: ResumePoint | None) -> tuple[Sequencer, p.StepOutcome | None]:
        """The sequencer to run (and the outcome of a step that had ended) for `resume`."""
        self._resume = resume
        self._attach_after = resume.step_samples if resume is not None else None
        self._resume_soak = resume.soak_wall_s if resume is not None else None
        if resume is None or resume.sequencer_state is None:
            self._sequencer = Sequencer(self.plan)
            return self._sequencer, None
        sequencer = Sequencer.restore(self.plan, resume.sequencer_state)
        self._sequencer = sequencer
        self._continue_counters(resume)
        self._step_wall = resume.step_wall_s or time.time()
        self._step_journal = resume.journal
        if not resume.ended:
            return sequencer, None
        # The journaled step had ended: never run it again, go on as its end says.
        ended = sequencer.next(None)
        fired = None
        if ended is not None and resume.fired is not None and resume.fired < len(ended.limits):
            fired = ended.limits[resume.fired]
        return sequencer, p.StepOutcome(fired, resume.end_reason)

    async def interrupt(self, status: str, reason: str, *, wait_s: float = 5.0) -> None:
        """Stop the run from outside: abort the running step, and return once the instrument
        has stopped driving the cell (or after `wait_s`). The run then ends with `status`
        ("paused", "cancelled", "safety", ...); a paused run can be resumed later."""
        self._note_interrupt(status, reason)
        if not self._quiet.is_set():
            await self.potentiostat.abort()
        try:
            await asyncio.wait_for(self._quiet.wait(), wait_s)
        except TimeoutError:
            await self._make_safe()

    def _journal(self) -> dict[str, Any]:
        """What recovery needs to continue at this step: sequencer state and counters."""
        return {
            "sequencer": self._sequencer.state(),
            "wall_s": self._step_wall,
            "counters": journaled_counters(self.state),
        }

    async def _run_step(self, step: p.Step, *, attach: bool = False) -> StepResult:
        state = self.state
        resume = self._resume
        if attach and resume is not None:
            started = resume.step_started_s  # the step's original start
        else:
            state.step_count += 1
            state.step_time_s = 0.0
            started = state.test_time_s
            self._step_wall = time.time()
            self._step_journal = self._journal()
            await self._journal_step(step, started, self._step_journal)
            crashpoints.point("step_started", self._pass_key(step))
        state.step = step
        if isinstance(step, p.SetTemperature | p.SetPressure):
            return await self._environment_step(step, started)
        if self._quantities is None:
            self._quantities = (await self.potentiostat.capabilities()).limit_quantities
        phases = translate_phases(step, one_c_A=self.one_c_A, quantities=self._quantities)
        self.progress("step", state)
        charge0, discharge0 = state.charge_Ah, state.discharge_Ah
        first = resume.phase if attach and resume is not None else 0
        offset = resume.phase_offset_s if attach and resume is not None else 0.0
        try:
            for number, translation in enumerate(phases):
                if number < first:
                    continue
                if number > 0 and not attach:  # journaled before the phase's script starts
                    await self._commit_samples()  # and after the last phase's samples
                    phase = {"number": number, "offset_s": offset}
                    await self._journal_step(step, started, {**self._step_journal, "phase": phase})
                    crashpoints.point("phase_started", f"{self._pass_key(step)}.{number}")
                end = await self._stream(step, translation, started, offset, attach=attach)
                streamed = f"{self._pass_key(step)}.{number}"
                crashpoints.point("phase_streamed", streamed, durable=False)
                if attach:
                    end = await self._adopted_end(step, translation, started, offset, end)
                attach = False
                offset = state.step_time_s
                fired = translation.protocol_limit(end.limit) if end.reason == "limit" else None
                if end.reason == "aborted" and self._host_fired is not None:
                    fired = self._host_fired
                reached_next_phase = (
                    number < len(phases) - 1 and fired is not None and fired not in step.limits
                )
                if not reached_next_phase:
                    break  # a limit of the step itself (or its time) ended it
        except (Interrupted, SafetyTrip, InstrumentError, SchedulerError) as stop:
            # Journal how the step ended before the run handles the stop itself.
            prefix = stop.status if isinstance(stop, Interrupted) else type(stop).__name__
            await self._commit_samples()
            await self.db.end_step(
                self.run_id,
                state.step_count,
                ended_at_s=started + state.step_time_s,
                end_reason=f"interrupted ({prefix}): {stop}",
                charge_Ah=state.charge_Ah - charge0,
                discharge_Ah=state.discharge_Ah - discharge0,
                data={"interrupted": True},
            )
            raise
        reason = self._describe_end(end, fired)
        state.test_time_s = started + state.step_time_s
        result = StepResult(
            step,
            state.step_count,
            state.cycle,
            started,
            state.test_time_s,
            reason,
            fired,
            state.charge_Ah - charge0,
            state.discharge_Ah - discharge0,
        )
        await self._end_step(result)
        return result

    def _pass_key(self, step: p.Step) -> str:
        """Which pass of which protocol step is running, as a crash point's key: a step that
        runs again after a crash has the same key (its step count is a new one)."""
        passes = self._sequencer.passes
        return "/".join([str(step.index), *(f"{k}.{v}" for k, v in sorted(passes.items()))])

    async def _commit_samples(self) -> None:
        """Commit the samples so far, so that a journaled step end comes after its data (a
        refused commit stays with the writer, which tries again)."""
        self._push()
        with contextlib.suppress(StorageError):
            await asyncio.to_thread(self._writer.flush)

    async def _end_step(self, result: StepResult) -> None:
        """Journal the step's end, after its samples: from here on it never runs again."""
        await self._commit_samples()
        limits = result.step.limits
        await self.db.end_step(
            self.run_id,
            result.step_count,
            ended_at_s=result.ended_s,
            end_reason=result.end_reason,
            charge_Ah=result.charge_Ah,
            discharge_Ah=result.discharge_Ah,
            data={"fired": limits.index(result.fired) if result.fired in limits else None},
        )
        crashpoints.point("step_ended", self._pass_key(result.step))
        self.progress("step_end", self.state)

    async def _adopted_end(
        self, step: p.Step, translation: Translation, started: float, offset: float, end: StepEnd
    ) -> StepEnd:
        """How a re-attached phase ended, when the instrument could not say it all itself."""
        what = f"step {step.index} ({step.label or step.kind})"
        if end.reason == "not_running" and not self._attach_after:
            await self._event(
                "restart",
                f"{what}: the instrument had no record of it (it had not started, or all its "
                "output was lost before any of it was stored); it starts now",
                {"phase": self._resume.phase if self._resume else 0},
            )
            return await self._stream(step, translation, started, offset)
        if not end.tail_lost:
            return end
        return await lost_end(self, what, translation, started, end)

    async def _event(self, kind: str, message: str, data: dict[str, Any]) -> None:
        data["step_count"] = self.state.step_count
        await self.db.add_event(kind, message, run_id=self.run_id, severity="warning", data=data)

    def _describe_end(self, end: StepEnd, fired: p.Limit | None) -> str:
        if fired is not None:
            return (
                f"limit: {fired.label or fired.quantity + ' ' + fired.op + ' ' + str(fired.value)}"
            )
        if end.reason == "time":
            return "time: step duration reached"
        if end.reason == "completed":
            return "completed"
        return f"{end.reason}: {end.message}".rstrip(": ")

    async def _environment_step(self, step: p.Step, started: float) -> StepResult:
        if self.environment is None:
            what = "temperature" if isinstance(step, p.SetTemperature) else "stack pressure"
            raise SchedulerError(
                f"step {step.index} sets the {what}, but this slot has no instrument for it"
            )
        self.progress("step", self.state)
        soaked = soaked_by_now(self, step)
        apply = self.environment.apply(
            step, soaked_s=soaked, on_stable=soak_journal(self, step, started)
        )
        elapsed = await self._on_host(apply)
        self.state.test_time_s = started + elapsed
        self.state.step_time_s = elapsed
        result = StepResult(
            step,
            self.state.step_count,
            self.state.cycle,
            started,
            self.state.test_time_s,
            "completed",
            None,
            0.0,
            0.0,
        )
        await self._end_step(result)
        return result

    async def _stream(
        self,
        step: p.Step,
        translation: Translation,
        started: float,
        offset: float = 0.0,
        *,
        attach: bool = False,
    ) -> StepEnd:
        self._host_fired = None
        self._drifts = {}
        tally = StepTally(offset, last_t=offset)
        spectrum: list[ImpedancePoint] = []
        end: StepEnd | None = None
        self._quiet.clear()
        if attach:
            # The phase kept running on the instrument: continue its stream where it is. The
            # instrument reports the phase's own time; the phase's offset makes it step time.
            tally = StepTally(offset, last_t=self.state.step_time_s)
            stream = self.potentiostat.attach(translation.command, after_index=self._attach_after)
        else:
            stream = self.potentiostat.run(translation.command)
        try:
            async for item in stream:
                if isinstance(item, StepEnd):
                    end = item
                    break
                if isinstance(item, ImpedancePoint):
                    spectrum.append(item)
                elif isinstance(item, Reattached | Gap):
                    await self._link_event(step, item)
                else:
                    await self._on_sample(step, item, tally, started, translation.host_limits)
        finally:
            # Let go of the instrument now (the driver holds its link while it streams), not
            # whenever the abandoned stream is collected: making the cell safe after a stop
            # needs that link. A detached run leaves its step running on the instrument.
            close = getattr(stream, "aclose", None)
            if close is not None and not self.detached:
                await close()
        self._quiet.set()
        if end is None:
            raise InstrumentError("the instrument stopped streaming before the step ended")
        self._check_interrupt()
        if spectrum:
            await self._store_spectrum(spectrum)
        return end

    async def _on_sample(
        self, step: p.Step, sample: Sample, tally: StepTally, started: float, host_limits: Any
    ) -> None:
        """Count, store and check one sample: safety limits, then host-side step limits."""
        state = self.state
        t = tally.offset + sample.t_s if math.isfinite(sample.t_s) else tally.last_t
        current, voltage = sample.current_A, sample.voltage_V
        tally.count(state, t, voltage, current)
        state.step_time_s = t
        state.voltage_V, state.current_A = voltage, current
        state.record_index += 1
        test_time = started + t
        await self._poll_environment(test_time)
        temperature, pressure = self._environment_readings()
        self._sample_row(test_time, step.index, voltage, current, temperature, pressure)
        self._push_due()
        if breach := self._safety_breach(voltage, current, tally.charge_Ah):
            raise SafetyTrip(f"step {step.index} ({step.label or step.kind}): {breach}")
        if host_limits and self._host_fired is None:
            fired = check_host(self.state, host_limits, t, voltage, current, self._drifts)
            if fired is not None:
                self._host_fired = fired
                await self.potentiostat.abort()
        self._sample_progress()
        tally.last_t, tally.last_v, tally.last_i = t, voltage, current

    async def _store_spectrum(self, spectrum: list[ImpedancePoint]) -> None:
        await self.db.add_spectrum(
            self.run_id,
            step_count=self.state.step_count,
            frequency_Hz=[pt.frequency_Hz for pt in spectrum],
            z_real_ohm=[pt.z_real_ohm for pt in spectrum],
            z_imag_ohm=[pt.z_imag_ohm for pt in spectrum],
            temperature_degC=self._environment_readings()[0],
        )
        self.last_spectrum = spectrum

    async def _poll_environment(self, test_time: float) -> None:
        """Refresh chamber and rig readings in the background, every ENVIRONMENT_POLL_S.

        A failed reading is not ignored: it ends the run at the next sample, through the
        same path as any instrument error.
        """
        refresh = getattr(self.environment, "refresh", None)
        if refresh is None:
            return
        if self._refresh is not None and self._refresh.done():
            task, self._refresh = self._refresh, None
            task.result()  # raises the chamber's or rig's error, if any
        if self._refresh is None and test_time - self._refreshed_at >= ENVIRONMENT_POLL_S:
            self._refreshed_at = test_time
            self._refresh = asyncio.create_task(refresh())

    def _environment_readings(self) -> tuple[float, float]:
        """Chamber temperature (degC) and stack pressure (Pa) last read, or NaN."""
        env = self.environment
        if env is None:
            return math.nan, math.nan
        temperature = getattr(env, "temperature_degC", math.nan)
        pressure_MPa = getattr(env, "pressure_MPa", math.nan)
        return temperature, pressure_MPa * 1e6

    async def _link_event(self, step: p.Step, item: Reattached | Gap) -> None:
        """Record a re-attach after a lost link, or samples the instrument says were lost."""
        if isinstance(item, Reattached):
            kind, data = "reattach", {"down_s": item.down_s}
        else:
            kind = "gap"
            data = {"count": len(item.missing), "first": item.missing[0], "last": item.missing[-1]}
        data["step_count"] = self.state.step_count
        await self.db.add_event(
            kind,
            f"step {step.index} ({step.label or step.kind}): {item.message}",
            run_id=self.run_id,
            severity="warning",
            data=data,
        )
