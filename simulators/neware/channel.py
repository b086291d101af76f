"""One simulated BTS channel: it runs a step file on its own cell, paced by simulated time,
and keeps what the host software keeps for it (the record buffer, the step layer and the
log), whether or not anyone is connected.

States as the API names them: `working`, `pause`, `stop` (by the host, resumable with
`continue`), `finish` (the file reached its end step) and `protect` (a protection limit of the
file tripped, or a fault put it there). The channel checks its step's ends, its record rule
and its protection at every tick: every logged interval, and at most every `MAX_TICK_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from simulators.cell.control import current_for_voltage
from simulators.neware.stepfile import (
    CC_CHARGE,
    CC_DISCHARGE,
    CCCV_CHARGE,
    CCCV_DISCHARGE,
    CYCLE,
    END,
    REST,
    Step,
    StepFile,
)

MAX_TICK_S = 10.0  # the channel samples at least this often, whatever its record rule says
CV_SUBSTEP_S = 1.0  # a constant-voltage hold finds its current at least this often
EPOCH = dt.datetime(2026, 1, 1)  # simulated time 0 on the host's wall clock
STEP_TYPES = {
    CC_CHARGE: "cc",
    CC_DISCHARGE: "dc",
    CCCV_CHARGE: "cccv",
    CCCV_DISCHARGE: "cccv_dc",
    REST: "rest",
}
# Log codes (the simulator's own numbering; the API reports them as numbers).
LOG_START, LOG_FINISH, LOG_STOP, LOG_CONTINUE, LOG_GOTO = 100000, 100001, 100002, 100003, 100004
LOG_PROTECT = {"v_max": 101001, "v_min": 101002, "i_max": 101003, "i_min": 101004}
LOG_PROTECT_CAP, LOG_PROTECT_EXTERNAL = 101005, 101000


def atime(sim_s: float) -> str:
    """The host's absolute time of simulated second `sim_s`, as the API writes it."""
    return (EPOCH + dt.timedelta(seconds=sim_s)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class DataRecord:
    """One logged point: seqid counts from 1 over the test; `step_ms` is the step's time."""

    seqid: int
    stepid: int
    cycleid: int
    steptype: str
    step_ms: float
    sim_s: float
    volt: float
    curr: float  # A, positive = charge
    cap: float  # Ah in this step
    eng: float  # Wh in this step
    temp: float  # degC, the first aux temperature sensor


@dataclass
class StepLayer:
    """One executed step, as `downloadStepLayer` reports it."""

    startseqid: int
    stepindex: int
    stepid: int
    cycleid: int
    steptype: str
    startvolt: float
    startcurr: float
    endseqid: int = 0
    steptime_ms: float = 0.0
    end_s: float = 0.0
    endvolt: float = 0.0
    endcurr: float = 0.0
    cap: float = 0.0
    eng: float = 0.0


@dataclass
class Progress:
    """Where the test is and what the running step has done so far."""

    step_id: int = 0
    cycle: int = 1
    passes: dict[int, int] = field(default_factory=dict)
    step_s: float = 0.0
    cap_Ah: float = 0.0
    eng_Wh: float = 0.0
    cv: bool = False
    last_record_s: float = 0.0
    last_v: float = math.nan
    last_i: float = math.nan
    step_index: int = 0
    test_s: float = 0.0


class Channel:
    """A channel at address (devtype, devid, subdevid, chlid) with its cell."""

    def __init__(
        self,
        address: tuple[int, int, int, int],
        cell: Any,
        clock: Any,
        max_current_A: float = 0.1,
    ) -> None:
        self.address = address
        self.cell = cell
        self.clock = clock
        self.max_current_A = max_current_A
        self.state = "finish"
        self.testid = 0
        self.barcode = ""
        self.file: StepFile | None = None
        self.records: list[DataRecord] = []
        self.layers: list[StepLayer] = []
        self.log: list[tuple[int, int, float]] = []  # (seqid, log_code, sim_s)
        self.progress = Progress()
        self.current_A = 0.0
        self.voltage_V = cell.voltage(0.0) if cell is not None else 0.0
        self.protect_reason = ""
        self._task: asyncio.Task[None] | None = None
        self._anchor = 0.0
        self._paused_at = 0.0

    # -- host commands ----------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self.cell is not None

    def start(self, file: StepFile, barcode: str) -> bool:
        """Start a new test (only from finish, stop or protect); False if it cannot."""
        if not self.usable or self.state not in ("finish", "stop", "protect"):
            return False
        self.file, self.barcode = file, barcode
        self.testid += 1
        self.records, self.layers, self.log = [], [], []
        self.progress = Progress(step_id=file.first)
        self.protect_reason = ""
        self._log(LOG_START)
        self._launch()
        return True

    def stop(self) -> bool:
        if self.state not in ("working", "pause"):
            return False
        self._cancel()
        self._set_idle("stop", LOG_STOP)
        return True

    def pause(self) -> bool:
        if self.state != "working":
            return False
        self._cancel()
        self._set_idle("pause", LOG_STOP)
        return True

    def resume(self) -> bool:
        """`continue`: carry on in the step that was stopped or paused."""
        if self.state not in ("stop", "pause") or self.file is None:
            return False
        self.voltage_V = self.cell.rest(max(self.clock.now() - self._paused_at, 0.0))
        self._log(LOG_CONTINUE)
        self._launch()
        return True

    def goto(self, step_id: int) -> bool:
        """Jump the running (or stopped) test to `step_id`, which starts afresh."""
        if self.file is None or step_id not in self.file.steps or self.state == "finish":
            return False
        if self.state == "protect":
            return False
        running = self.state == "working"
        self._cancel()
        self._close_layer()
        self.progress.step_id = step_id
        self._new_step_counters()
        self._log(LOG_GOTO)
        if running:
            self._launch()
        return True

    def trip(self, reason: str = "external", code: int = LOG_PROTECT_EXTERNAL) -> None:
        """Go to protect now: the cell is switched off and the test ends."""
        if self.state not in ("working", "pause"):
            return
        self._cancel()
        self.protect_reason = reason
        self._set_idle("protect", code)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- running -----------------------------------------------------------------------------
    def _launch(self) -> None:
        self.state = "working"
        self._anchor = self.clock.now() - self.progress.test_s
        self._task = asyncio.ensure_future(self._run())

    def _cancel(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    def _set_idle(self, state: str, code: int) -> None:
        """Switch the cell off; a stopped or paused step stays open for `continue`."""
        self.state = state
        self.current_A = 0.0
        self._paused_at = self.clock.now()
        if state in ("finish", "protect"):
            self._close_layer()
        self._log(code)

    def _log(self, code: int) -> None:
        seqid = self.records[-1].seqid if self.records else 1
        self.log.append((seqid, code, self.clock.now()))

    def _new_step_counters(self) -> None:
        p = self.progress
        p.step_s = p.cap_Ah = p.eng_Wh = 0.0
        p.cv = False
        p.last_record_s = 0.0
        p.last_v = p.last_i = math.nan

    async def _run(self) -> None:
        assert self.file is not None
        file = self.file
        while self.state == "working":
            step = file.steps[self.progress.step_id]
            if step.step_type == END:
                self._set_idle("finish", LOG_FINISH)
                return
            if step.step_type == CYCLE:
                self._cycle(step)
                continue
            if await self._run_step(step):
                self._close_layer()
                self._advance_to(self._next_id(step.step_id))

    def _next_id(self, step_id: int) -> int:
        assert self.file is not None
        later = [i for i in self.file.steps if i > step_id]
        return min(later) if later else step_id

    def _advance_to(self, step_id: int) -> None:
        self.progress.step_id = step_id
        self._new_step_counters()

    def _cycle(self, step: Step) -> None:
        """A cycle step: back to its start step until it has run `cycle_count` passes."""
        p = self.progress
        done = p.passes.get(step.step_id, 0) + 1
        assert step.cycle_count is not None and step.start_step is not None
        if done < step.cycle_count:
            p.passes[step.step_id] = done
            p.cycle += 1
            self._advance_to(step.start_step)
        else:
            p.passes.pop(step.step_id, None)  # an outer loop runs this one afresh
            self._advance_to(self._next_id(step.step_id))

    async def _run_step(self, step: Step) -> bool:
        """Run the step from where it stands; True when it ended on one of its ends."""
        assert self.file is not None
        record = self.file.record_for(step)
        tick = min(record.dt_s or MAX_TICK_S, MAX_TICK_S)
        if not self.layers or self.layers[-1].endseqid:  # no step open: this one starts
            self._open_layer(step)
        while True:
            dt_s = tick
            if step.time_s is not None:
                dt_s = min(dt_s, max(step.time_s - self.progress.step_s, 0.0))
            if dt_s <= 0.0:
                self._record(step, force=True)
                return True
            await self._pace(dt_s)
            current, voltage = self._apply(step, dt_s)
            self._account(dt_s, current, voltage)
            tripped = self._protection(current, voltage)
            ended = bool(tripped) or self._ended(step, current, voltage)
            self._record(step, force=ended)
            if tripped:
                self.trip(tripped, self._trip_code(tripped))
                return False
            if ended:
                return True

    async def _pace(self, dt_s: float) -> None:
        """Let dt_s of test time pass on the clock, without drift (a stop cancels it here)."""
        await self.clock.sleep_until(self._anchor + self.progress.test_s + dt_s)
        self.progress.test_s += dt_s

    def _apply(self, step: Step, dt_s: float) -> tuple[float, float]:
        """Drive the cell through one tick; the mean current and the voltage at its end."""
        sign = 1.0 if step.step_type in (CC_CHARGE, CCCV_CHARGE) else -1.0
        if step.step_type == REST:
            return 0.0, self.cell.rest(dt_s)
        if step.step_type in (CCCV_CHARGE, CCCV_DISCHARGE) and (
            self.progress.cv or step.current_A is None
        ):
            return self._hold(step, dt_s, sign)
        current = sign * min(step.current_A or 0.0, self.max_current_A)
        voltage = self.cell.step(dt_s, current)
        if step.step_type in (CCCV_CHARGE, CCCV_DISCHARGE):
            assert step.volt_V is not None
            self.progress.cv = sign * (voltage - step.volt_V) >= 0.0
        return current, voltage

    def _hold(self, step: Step, dt_s: float, sign: float) -> tuple[float, float]:
        """Hold the CV level for dt_s in sub-steps, the current limited by the step's Curr."""
        assert step.volt_V is not None
        limit = min(step.current_A or self.max_current_A, self.max_current_A)
        done, charge, voltage = 0.0, 0.0, self.voltage_V
        guess = self.current_A
        while done < dt_s * (1.0 - 1e-9):
            sub = min(CV_SUBSTEP_S, dt_s - done)
            guess = current_for_voltage(self.cell, step.volt_V, guess, limit)
            if sign * guess < 0.0:  # a CV charge never discharges the cell, and vice versa
                guess = 0.0
            voltage = self.cell.step(sub, guess)
            charge += guess * sub
            done += sub
        self.progress.cv = True
        return charge / dt_s, voltage

    def _account(self, dt_s: float, current: float, voltage: float) -> None:
        p = self.progress
        p.step_s += dt_s
        p.cap_Ah += abs(current) * dt_s / 3600.0
        p.eng_Wh += abs(current) * voltage * dt_s / 3600.0
        self.current_A, self.voltage_V = current, voltage

    def _ended(self, step: Step, current: float, voltage: float) -> bool:
        p = self.progress
        rising = step.step_type in (CC_CHARGE, CCCV_CHARGE)
        if step.time_s is not None and p.step_s >= step.time_s - 1e-9:
            return True
        if step.cap_Ah is not None and p.cap_Ah >= step.cap_Ah:
            return True
        if step.step_type in (CC_CHARGE, CC_DISCHARGE) and step.stop_volt_V is not None:
            return voltage >= step.stop_volt_V if rising else voltage <= step.stop_volt_V
        if step.stop_curr_A is not None and p.cv:
            return abs(current) <= step.stop_curr_A
        return False

    def _protection(self, current: float, voltage: float) -> str:
        """The protection limit this point trips ('' when none)."""
        assert self.file is not None
        pr = self.file.protect
        if self.progress.step_s < pr.delay_s:
            return ""
        checks = (
            ("v_max", pr.v_max is not None and voltage > pr.v_max),
            ("v_min", pr.v_min is not None and voltage < pr.v_min),
            ("i_max", pr.i_max_A is not None and abs(current) > pr.i_max_A),
            ("i_min", pr.i_min_A is not None and current != 0 and abs(current) < pr.i_min_A),
            ("cap_max", pr.cap_max_Ah is not None and self.progress.cap_Ah > pr.cap_max_Ah),
        )
        return next((name for name, hit in checks if hit), "")

    @staticmethod
    def _trip_code(reason: str) -> int:
        return LOG_PROTECT.get(reason, LOG_PROTECT_CAP)

    def _record(self, step: Step, *, force: bool) -> None:
        assert self.file is not None
        p = self.progress
        rule = self.file.record_for(step)
        due = force or (rule.dt_s is not None and p.step_s - p.last_record_s >= rule.dt_s - 1e-9)
        if not due and rule.dv_V is not None and math.isfinite(p.last_v):
            due = abs(self.voltage_V - p.last_v) >= rule.dv_V
        if not due and rule.di_A is not None and math.isfinite(p.last_i):
            due = abs(self.current_A - p.last_i) >= rule.di_A
        if not due and rule.dt_s is None and math.isnan(p.last_v):
            due = True  # a step without a time rule still logs its first point
        if not due:
            return
        p.last_record_s, p.last_v, p.last_i = p.step_s, self.voltage_V, self.current_A
        self.records.append(
            DataRecord(
                seqid=len(self.records) + 1,
                stepid=step.step_id,
                cycleid=p.cycle,
                steptype=self._type_name(step),
                step_ms=round(p.step_s * 1000.0, 3),
                sim_s=self.clock.now(),
                volt=self.voltage_V,
                curr=self.current_A,
                cap=p.cap_Ah,
                eng=p.eng_Wh,
                temp=self.temperature_degC,
            )
        )

    def _type_name(self, step: Step) -> str:
        if step.step_type in (CCCV_CHARGE, CCCV_DISCHARGE) and self.progress.cv:
            return "cv" if step.step_type == CCCV_CHARGE else "cv_dc"
        return STEP_TYPES.get(step.step_type, "--")

    @property
    def temperature_degC(self) -> float:
        return float(getattr(self.cell, "temperature_degC", 25.0))

    def _open_layer(self, step: Step) -> None:
        p = self.progress
        p.step_index += 1
        self.layers.append(
            StepLayer(
                startseqid=len(self.records) + 1,
                stepindex=p.step_index,
                stepid=step.step_id,
                cycleid=p.cycle,
                steptype=STEP_TYPES.get(step.step_type, "--"),
                startvolt=self.voltage_V,
                startcurr=self.current_A,
            )
        )

    def _close_layer(self) -> None:
        if not self.layers or self.layers[-1].endseqid:
            return
        layer, p = self.layers[-1], self.progress
        layer.endseqid = max(len(self.records), layer.startseqid)
        layer.steptime_ms = p.step_s * 1000.0
        layer.end_s, layer.endvolt, layer.endcurr = self.clock.now(), self.voltage_V, self.current_A
        layer.cap, layer.eng = p.cap_Ah, p.eng_Wh
