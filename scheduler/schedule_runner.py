"""Run a bound protocol as a whole schedule on a cycler channel (Neware BTS first).

The plan is written as a step file (`scheduler.neware_schedule`), the channel is started with
it and a barcode naming the run, and the records the cycler logs are downloaded by record
number and stored with the protocol's own counters: the cycler's record number is the
record index, its steps are followed through the plan's sequencer (so cycle numbers and
step indices are the protocol's, as on any other instrument), and its per-step capacity and
energy become the cumulative BDF columns. Each plan step is journaled as the runner does,
so after a host crash the run re-attaches: the channel never stopped, and the records it
logged meanwhile are fetched from the first one not yet stored.

A plan with temperature or pressure steps runs in segments: each block between them is a
step file of its own (its test's barcode numbers the segment), and the host runs the chamber
or rig step in between, as the step runner does; record numbers continue over the segments.

The cycler enforces the step ends and its `<Protect>` limits itself; the host checks every
record against the protocol's safety block and the slot's hard limits as well, and guards
the limits the file has no field for (temperature, from the channel's aux sensor).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.cyclers.neware import Record
from drivers.errors import InstrumentError
from protocols import steps as p
from protocols.sequencer import Sequencer
from scheduler import kinds
from scheduler.errors import SchedulerError
from scheduler.neware_schedule import NewareSchedule, neware_schedule, segments
from scheduler.run_base import RunBase
from scheduler.run_state import (
    ResumePoint,
    RunResult,
    RunStatus,
    SafetyTrip,
    journaled_counters,
)
from scheduler.runner import Runner

ENDED = ("finish", "protect", "stop")
MAX_FAILED_POLLS = 10  # rounds in a row without a good reply before the run gives up


@dataclass
class _Tally:
    """Where the records stand: the cycler step they belong to and its running values."""

    neware_step: int = 0
    neware_cycle: int = 0
    step_s: float = 0.0  # the cycler step's time at the last record
    cap_Ah: float = 0.0
    eng_Wh: float = 0.0
    charge_Ah: float = 0.0  # |charge| of the plan step so far (its step-capacity safety)
    passes: int = 1  # passes through the plan step's first cycler step (a pulse train's pulses)
    step_started_s: float = 0.0  # test time at which the plan step began


def _merged_limits(safeties: list[p.Safety]) -> p.Safety:
    """The tightest of several safety blocks (the slot's hard limits, for the step file)."""

    def pick(name: str, choose: Any) -> float | None:
        values = [getattr(s, name) for s in safeties if getattr(s, name) is not None]
        return choose(values) if values else None

    return p.Safety(
        voltage_min_V=pick("voltage_min_V", max),
        voltage_max_V=pick("voltage_max_V", min),
        abs_current_max_A=pick("abs_current_max_A", min),
        temperature_min_degC=pick("temperature_min_degC", max),
        temperature_max_degC=pick("temperature_max_degC", min),
    )


def _temperature_breach(guards: p.Safety, temperature: float) -> str | None:
    """Which temperature limit the channel's aux sensor reading breaks, in words, or None
    (the step file has no field for them: the host guards them)."""
    if not math.isfinite(temperature):
        return None
    high, low = guards.temperature_max_degC, guards.temperature_min_degC
    if high is not None and temperature > high:
        return f"temperature {temperature:.1f} °C above {high:g} °C"
    if low is not None and temperature < low:
        return f"temperature {temperature:.1f} °C below {low:g} °C"
    return None


class ScheduleRunner(RunBase):
    """Executes a bound plan as one schedule on a cycler channel; the daemon drives it as it
    drives a `Runner` (run, interrupt, detach, state)."""

    completed_message = "the cycler finished the schedule"
    safe_after_interrupt = False  # interrupt() has stopped the channel's test already

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes `RunBase`'s arguments."""
        super().__init__(*args, **kwargs)
        self.channel = self.potentiostat
        self.barcode = f"cellbench-run-{self.run_id}"
        self._wake = asyncio.Event()
        self._tally = _Tally()
        self._schedule: NewareSchedule | None = None
        self._sequencer = Sequencer(self.plan)
        self._open_step = False  # a plan step is journaled and not yet ended
        self._testid: int | None = None
        self._guards = _merged_limits([])
        self._segments = segments(self.plan)
        self._segment = 0  # the segment running now
        self._offset = 0  # records stored from the segments before it

    # -- the daemon's interface ------------------------------------------------------------------
    async def interrupt(self, status: str, reason: str, *, wait_s: float = 5.0) -> None:
        """Stop the channel's test; the run ends with `status` once its records are in."""
        self._note_interrupt(status, reason)
        await self._make_safe()
        self._wake.set()

    # -- segments: step files on the cycler, the host's steps between them ------------------
    def _barcode(self, k: int) -> str:
        """The barcode of segment `k`'s test: it names the run (and the segment)."""
        on_cycler = [i for i, seg in enumerate(self._segments) if seg.on_cycler]
        if k not in on_cycler:
            return ""  # the host's own step
        if len(on_cycler) <= 1:
            return self.barcode
        return f"{self.barcode}-{on_cycler.index(k) + 1}"

    async def _run_steps(self, resume: ResumePoint | None, result: RunResult) -> None:
        hard = _merged_limits([self.plan.safety, *self.extra_safety])
        self._guards = hard
        start, first = (0, None) if resume is None else await self._reattach(resume)
        for k in range(start, len(self._segments)):
            self._segment, segment = k, self._segments[k]
            if not segment.on_cycler:
                await self._host_step(segment, again=first is None and k == start and bool(resume))
                continue
            self._schedule = neware_schedule(
                self.plan, hard_limits=hard, remark=self._barcode(k), segment=segment
            )
            if not self._schedule.steps:
                continue  # only cycle advances: nothing for the cycler to run
            if first is None or k != start:
                first = await self._start(k)
            elif resume is not None:
                await self._restore_passes(resume.step_samples)
            await self._follow(first, result)
            if result.status != RunStatus.COMPLETED:
                return
            first = None

    async def _host_step(self, segment: Any, *, again: bool) -> None:
        """A temperature or pressure step between cycler segments, run by the host."""
        step = self.state.step if again else self._advance_to(segment.indices[0])
        if self.environment is None or step is None:
            raise SchedulerError(
                f"step {segment.indices[0]} sets the temperature or pressure, but this slot "
                "has no instrument for it"
            )
        state = self.state
        state.step_count, state.step, state.step_time_s = state.step_count + 1, step, 0.0
        started = state.test_time_s
        await self._journal_start(step)
        self._open_step = True
        elapsed = await self._on_host(self.environment.apply(step))
        state.test_time_s, state.step_time_s = started + elapsed, elapsed
        await self._end_step("completed")

    async def _start(self, k: int) -> int:
        assert self._schedule is not None
        schedule, barcode = self._schedule, self._barcode(k)
        folder = Path(getattr(self.channel, "step_dir", "") or ".")
        path = folder / f"{barcode}.xml"

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(schedule.xml, encoding="utf-8")

        await asyncio.to_thread(write)
        await self.channel.start(str(path), barcode)
        self._testid, _ = await self.channel.test()
        self._offset = self.state.record_index
        self._open_step = False
        await self.db.add_event(
            "schedule",
            f"started step file {path.name} ({len(schedule.steps)} steps) on {self.channel}, "
            f"test {self._testid}",
            run_id=self.run_id,
        )
        return 1

    async def _reattach(self, resume: ResumePoint) -> tuple[int, int | None]:
        """Continue a run a previous host process started: (segment, next record of its
        test), or (segment, None) when that segment is a host step to run again."""
        journaled = resume.sequencer_state  # None: the run had journaled no step yet
        self._sequencer = (
            Sequencer(self.plan) if journaled is None else Sequencer.restore(self.plan, journaled)
        )
        self._continue_counters(resume)
        self.state.step = self._sequencer.next(None)  # the step that was running
        index = self.state.step.index if self.state.step is not None else 0
        k = next(i for i, seg in enumerate(self._segments) if index in seg.indices)
        live = await self.channel.live()
        later = [j for j in range(k, len(self._segments)) if self._segments[j].on_cycler]
        j = next((j for j in later if self._barcode(j) == live.barcode), None)
        if j is None:
            if not self._segments[k].on_cycler:
                return k, None
            raise SchedulerError(
                f"{self.channel} now runs test {live.barcode!r}, not this run's "
                f"{self._barcode(k)!r}"
            )
        saved = await self._saved_offset()
        self._offset = saved if j == k and saved is not None else self.state.record_index
        self._testid, count = await self.channel.test()
        if live.state in ("stop", "pause"):  # stopped for a pause: carry on where it was
            await self.channel.resume()
        last = self.state.record_index - self._offset
        self._open_step = j == k and self._segments[k].on_cycler
        if last and self._open_step:
            (record,) = await self.channel.records(last, last, self._testid)
            self._baseline(record)
        await self.db.add_event(
            "reattach",
            f"re-attached to {self.channel}, which kept running test {self._testid}; "
            f"fetching the {max(count - last, 0)} record(s) it logged after record "
            f"{self.state.record_index}",
            run_id=self.run_id,
        )
        return j, last + 1

    async def _restore_passes(self, step_samples: int | None) -> None:
        """After a restart inside a pulse train: how many of its pulses had begun (from the
        cycler's step layer, counted over the records the plan step had stored)."""
        assert self._schedule is not None
        step = self.state.step
        if step is None or self._schedule.passes.get(step.index, 1) <= 1:
            return
        first_id = min(k for k, v in self._schedule.steps.items() if v == step.index)
        last = self.state.record_index - self._offset
        since = last - (step_samples or 0) + 1
        layers = await self.channel.layers()
        begun = sum(
            1 for layer in layers if layer.step == first_id and since <= layer.first <= last
        )
        self._tally.passes = max(1, begun)

    async def _saved_offset(self) -> int | None:
        """The record offset the last journaled step noted for its segment."""
        steps = await self.db.steps(self.run_id)
        journaled = [s for s in steps if (s.data or {}).get("cycler")]
        if not journaled:
            return None
        last = max(journaled, key=lambda s: s.step_count)
        return int(last.data["cycler"].get("offset", 0))

    def _baseline(self, record: Record) -> None:
        t = self._tally
        t.neware_step, t.neware_cycle = record.step, record.cycle
        t.step_s, t.cap_Ah, t.eng_Wh = record.step_s, record.capacity_Ah, record.energy_Wh
        t.step_started_s = self.state.test_time_s - self.state.step_time_s

    # -- following the cycler ---------------------------------------------------------------------
    async def _follow(self, first: int, result: RunResult) -> None:
        poll_s = float(getattr(self.channel, "poll_s", 2.0))
        following, failures = first, 0
        while True:
            try:
                status, following = await self._poll(following)
                failures = 0
            except InstrumentError as exc:  # the schedule runs on; ask again next time
                failures += 1
                if failures >= MAX_FAILED_POLLS:
                    raise
                await self.db.add_event(
                    "instrument",
                    f"{exc}; nothing of that reply was stored, asking again "
                    f"({failures} of {MAX_FAILED_POLLS})",
                    run_id=self.run_id,
                    severity="warning",
                )
                status = ""
            if status in ENDED:
                break
            if self._interrupt is not None and not failures:
                continue  # stopping: one more round collects the last records
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_s)
        await self._end_step("completed" if status == "finish" else status)
        self._open_step = False
        self._check_interrupt()
        if status == "protect":
            code = (await self.channel.log() or [(0, 0, "")])[-1][1]
            raise SafetyTrip(f"{self.channel} went to protect (log code {code})")
        if status == "stop":
            result.status, result.message = RunStatus.ABORTED, "stopped at the BTS host"

    async def _poll(self, following: int) -> tuple[str, int]:
        """One round: the channel's state, then every record logged since `following`."""
        status = await self.channel.status()  # first the state, then the count
        _, count = await self.channel.test()
        if count >= following:
            records = await self.channel.records(following, count, self._testid)
            if len(records) != count - following + 1:
                raise InstrumentError(
                    f"{self.channel} sent {len(records)} of records {following}-{count}"
                )
            await self._take(records)
            following = count + 1
        self._push()
        return status, following

    async def _take(self, records: list[Record]) -> None:
        for record in records:
            if self._is_new_step(record):
                await self._enter(record)
            self._row_of(record)

    def _is_new_step(self, record: Record) -> bool:
        t = self._tally
        if not self._open_step:
            return True
        assert self._schedule is not None
        index = self._schedule.steps.get(record.step)
        if index is None or index != self._sequencer.current:
            return True
        moved = (record.step, record.cycle) != (t.neware_step, t.neware_cycle)
        restarted = record.step == t.neware_step and record.step_s < t.step_s - 1e-6
        first_of_step = min(k for k, v in self._schedule.steps.items() if v == index)
        if not ((moved or restarted) and record.step == first_of_step):
            return False
        if t.passes < self._schedule.passes.get(index, 1):  # a pulse train's next pulse
            t.passes += 1
            return False
        return True

    async def _enter(self, record: Record) -> None:
        """The cycler moved on to the plan step `record` belongs to: follow the sequencer."""
        assert self._schedule is not None
        target = self._schedule.steps.get(record.step)
        if target is None:
            raise SchedulerError(f"{self.channel} logged step {record.step}, not in the step file")
        await self._end_step("completed")
        step = self._advance_to(target)
        state = self.state
        state.step_count, state.step_time_s, state.step = state.step_count + 1, 0.0, step
        self._tally = _Tally(step_started_s=state.test_time_s)
        self._open_step = True
        await self._journal_start(step)

    def _advance_to(self, target: int) -> p.Step:
        """Move the sequencer on to plan step `target`, past cycle advances on the way."""
        seq = self._sequencer
        step = seq.next(None) if seq.current is None else seq.next(p.StepOutcome(None, "done"))
        for _ in range(len(self.plan.steps) + 1):
            if step is None or step.index == target:
                break
            step = seq.next(p.StepOutcome(None, "completed"))  # an advance_cycle, a step skipped
        if step is None or step.index != target:
            raise SchedulerError(
                f"{self.channel} ran plan step {target} where the protocol goes on otherwise"
            )
        self.state.cycle = seq.cycle
        return step

    async def _journal_start(self, step: p.Step) -> None:
        self._push()
        await self._journal_step(step, self.state.test_time_s, self._journal())
        self.progress("step", self.state)

    async def _end_step(self, reason: str) -> None:
        if not self._open_step or self.state.step is None:
            return
        self._open_step = False
        self._push()
        await self.db.end_step(
            self.run_id,
            self.state.step_count,
            ended_at_s=self.state.test_time_s,
            end_reason=reason,
        )
        self.progress("step_end", self.state)

    def _journal(self) -> dict[str, Any]:
        return {
            "sequencer": self._sequencer.state(),
            "counters": journaled_counters(self.state),
            "cycler": {
                "test": self._testid,
                "barcode": self._barcode(self._segment),
                "segment": self._segment,
                "offset": self._offset,
            },
        }

    def _row_of(self, record: Record) -> None:
        """One record as a stored sample with the run's counters; checked against safety."""
        t, state = self._tally, self.state
        same = (record.step, record.cycle) == (t.neware_step, t.neware_cycle) and (
            record.step_s >= t.step_s - 1e-6
        )
        dt = record.step_s - t.step_s if same else record.step_s
        dq = record.capacity_Ah - t.cap_Ah if same else record.capacity_Ah
        de = record.energy_Wh - t.eng_Wh if same else record.energy_Wh
        if record.current_A > 0:
            state.charge_Ah, state.charge_Wh = state.charge_Ah + dq, state.charge_Wh + de
        elif record.current_A < 0:
            state.discharge_Ah += dq
            state.discharge_Wh += de
        t.charge_Ah += abs(dq)
        t.neware_step, t.neware_cycle = record.step, record.cycle
        t.step_s, t.cap_Ah, t.eng_Wh = record.step_s, record.capacity_Ah, record.energy_Wh
        state.test_time_s += max(dt, 0.0)
        state.step_time_s = state.test_time_s - t.step_started_s
        state.voltage_V, state.current_A = record.voltage_V, record.current_A
        state.record_index = self._offset + record.seqid
        temperature = record.temperature_degC if record.temperature_degC is not None else math.nan
        index = state.step.index if state.step is not None else 0
        self._sample_row(
            state.test_time_s, index, record.voltage_V, record.current_A, temperature, math.nan
        )
        self._sample_progress()
        self._check(record, temperature)

    def _check(self, record: Record, temperature: float) -> None:
        where = f"step {self.state.step.index if self.state.step else '?'}"
        breach = self._safety_breach(
            record.voltage_V, record.current_A, self._tally.charge_Ah
        ) or _temperature_breach(self._guards, temperature)
        if breach:
            raise SafetyTrip(f"{where} on {self.channel}: {breach}")


def runner_for(bench: Any, slot: str) -> type[Runner] | type[ScheduleRunner]:
    """The runner a slot's potentiostat needs: whole schedules on a cycler, else steps."""
    config = bench.instrument(bench.slot(slot).potentiostat)
    runs = kinds.kind_of(config).capabilities_for(config).runs
    return ScheduleRunner if runs == "schedule" else Runner
