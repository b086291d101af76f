"""Where an interrupted run continues, rebuilt from what was committed before the crash.

RECOVERY: the journal's states and what recovery does after a crash at each point
==================================================================================

A run's bookkeeping is a sequence of durable writes. Each is followed by a named crash point
(`scheduler.crashpoints`), and between any two of them the daemon may die. Below, N is one
pass of a protocol step (its crash points' key: the step's index and its loops' passes;
a step that runs again after a crash is the same N under a new step count):

| durable write (crash point)   | what it records                                            |
|-------------------------------|------------------------------------------------------------|
| `job_claimed@job`             | the job is running on a slot (queue claim)                  |
| `run_started@job`             | the run's row, status running                               |
| `step_started@N`              | step N's row, no end yet; its journal: the sequencer state  |
|                               | after handing step N out, the counters, the wall time       |
| `phase_started@N.k`           | step N's journal names phase k (a CC-CV's CV phase is 1)    |
|                               | and its offset in step time, before the phase's script runs |
| (sample batches)              | samples, with the counters as they were at each             |
| `soak_stable@N`               | a temperature step's air is stable: its soak begins         |
| `step_ended@N`                | (after its samples are committed) step N's end reason and   |
|                               | the index of the limit that fired;                          |
|                               | a stop that cut the step short flags it `interrupted`       |
| `run_finished@run`            | the run's final status                                      |
| `job_closed@job`              | the job's final state                                       |

What recovery (`scheduler.daemon.recovery`) does, by the last write that committed:

- job claimed, no run: the job goes back to the queue;
- run started, no step: the run starts at its first step (same run);
- step N started (or its phase k): an on-device step is re-attached in phase k, its samples
  stamped at the phase's offset, so the time axis goes on where it was. When the instrument
  has no step running and nothing of it buffered, the phase either never started or all of
  its output was lost before any was stored: it starts now and an event says so. A host-side
  step (or an instrument that cannot re-attach) runs again from its start as a new step
  count, counters restored: the abandoned record is ended `interrupted (crash)` first, and
  the `resumed` event says so;
- samples of step N stored, its end not journaled: re-attached; when the instrument's buffer
  still holds the closing package the step ends as the instrument says; when the killed
  daemon had already read it, the end is lost: a `gap` event gives its bounds (the last
  stored sample and the bench time at recovery, capped by the step's own duration) and the
  end reason is the limit the last stored sample met, or the one limit that could have
  ended it by then (a CC phase that can only have reached its CV voltage goes on to its CV
  phase), or else unknown;
- step N ended: it never runs again; the sequencer continues after it with its outcome
  (which may end the run);
- step N interrupted (a graceful stop cut it short): it runs again, and the event says so;
- a temperature step (host-side) whose soak had begun (`soak_stable@N`, the journal has the
  wall time the air became stable): it runs again, and when the chamber still holds the
  target with the air within tolerance, the soak goes on for the rest of its time;
- run finished: its job is closed from the run's status, nothing runs;
- job closed: nothing to do.

Recovery's own writes (`recovery_job_interrupted`, `recovery_run_interrupted`,
`recovery_job_resumed`, `recovery_job_closed`) are each idempotent: a crash between them
lands in a state the same rules recover from. A stop
during recovery leaves the cell either off or running its step under the instrument's own
limits with the run interrupted and its step open in the journal (its owner), and says which.
"""

from __future__ import annotations

import math
from typing import Any

from protocols import steps as p
from scheduler.errors import SchedulerError
from scheduler.run_state import ResumePoint, RunState

COUNTER_COLUMNS = (
    "test_time_s",
    "unix_time_s",
    "step_time_s",
    "step_count",
    "cycle",
    "record_index",
    "charge_capacity_Ah",
    "discharge_capacity_Ah",
    "charge_energy_Wh",
    "discharge_energy_Wh",
    "voltage_V",
    "current_A",
)
# Steps an instrument with on-device scripts keeps running while the host is away.
ON_DEVICE_KINDS = {
    "ConstantCurrent",
    "ConstantVoltage",
    "ConstantCurrentConstantVoltage",
    "Rest",
    "PulseTrain",
    "Impedance",
    "Sweep",
}


def step_ended(step: Any) -> bool:
    """Has the journaled `step` ended on its own (its end journaled, not cut short by a stop)?"""
    if step.end_reason is None:
        return False
    return not (step.data or {}).get("interrupted") and not step.end_reason.startswith(
        "interrupted"
    )


def _counters(journal: dict[str, Any], last: Any) -> RunState:
    saved = journal.get("counters", {})
    return RunState(
        cycle=int(saved.get("cycle", last.cycle or 1)),
        step_count=int(saved.get("step_count", last.step_count)),
        test_time_s=float(saved.get("test_time_s", last.started_at_s)),
        charge_Ah=float(saved.get("charge_Ah", 0.0)),
        discharge_Ah=float(saved.get("discharge_Ah", 0.0)),
        charge_Wh=float(saved.get("charge_Wh", 0.0)),
        discharge_Wh=float(saved.get("discharge_Wh", 0.0)),
        record_index=int(saved.get("record_index", 0)),
    )


def _from_last_sample(state: RunState, samples: dict[str, Any], step_count: int) -> float | None:
    """Counters from the last committed sample; returns the Unix time at test time 0."""
    if not len(samples["record_index"]):
        return None
    k = int(samples["record_index"].argmax())
    state.record_index = int(samples["record_index"][k])
    state.test_time_s = float(samples["test_time_s"][k])
    state.charge_Ah = float(samples["charge_capacity_Ah"][k])
    state.discharge_Ah = float(samples["discharge_capacity_Ah"][k])
    state.charge_Wh = float(samples["charge_energy_Wh"][k])
    state.discharge_Wh = float(samples["discharge_energy_Wh"][k])
    state.voltage_V = float(samples["voltage_V"][k])
    state.current_A = float(samples["current_A"][k])
    if int(samples["step_count"][k]) == step_count:
        state.step_time_s = float(samples["step_time_s"][k])
    anchor = float(samples["unix_time_s"][k]) - state.test_time_s
    return anchor if math.isfinite(anchor) else None


def resume_point(store: Any, run_id: int, *, can_attach: bool) -> ResumePoint:
    """Build the ResumePoint of an interrupted run from its journal and committed samples."""
    steps = store.steps(run_id)
    journaled = [s for s in steps if (s.data or {}).get("sequencer")]
    samples = store.read_samples(run_id, columns=COUNTER_COLUMNS)
    if not journaled:
        if len(samples["record_index"]):
            raise SchedulerError(f"run {run_id} has samples but no journaled step to resume from")
        return ResumePoint(None, RunState(), 0)  # it had not started its first step
    last = max(journaled, key=lambda s: s.step_count)
    journal = last.data or {}
    state = _counters(journal, last)
    anchor = _from_last_sample(state, samples, last.step_count)
    point = ResumePoint(
        sequencer_state=journal["sequencer"],
        counters=state,
        interrupted_step_count=last.step_count,
        unix_anchor_s=anchor,
        step_started_s=float(last.started_at_s),
        step_wall_s=journal.get("wall_s"),
        soak_wall_s=(journal.get("soak") or {}).get("stable_wall_s"),
        journal={k: v for k, v in journal.items() if k not in ("phase", "fired", "soak")},
    )
    if step_ended(last):
        state.test_time_s = max(state.test_time_s, float(last.ended_at_s or 0.0))
        state.step_time_s = 0.0
        point.ended, point.end_reason, point.fired = True, last.end_reason, journal.get("fired")
        return point
    point.step_open = last.end_reason is None
    phase = journal.get("phase") or {}
    point.phase = int(phase.get("number", 0))
    point.phase_offset_s = float(phase.get("offset_s", 0.0))
    in_step = samples["step_count"] == last.step_count
    step_times = samples["step_time_s"][in_step]
    if len(step_times):
        point.last_stored_s = float(last.started_at_s) + float(step_times.max())
    in_phase = step_times > point.phase_offset_s if point.phase else step_times >= 0
    point.step_samples = int(in_phase.sum())
    state.step_time_s = max(state.step_time_s, point.phase_offset_s)
    point.attach = can_attach and last.kind in ON_DEVICE_KINDS
    if not point.attach:
        state.step_time_s = 0.0
        point.phase, point.phase_offset_s = 0, 0.0
    if not math.isfinite(state.test_time_s):
        state.test_time_s = last.started_at_s
    return point


def describe(point: ResumePoint, step: p.Step | None = None) -> str:
    """One sentence for the event log."""
    if point.sequencer_state is None:
        return "the run had not started its first step; it starts now"
    what = f"step {point.interrupted_step_count}"
    if step is not None:
        what += f" ({step.label or step.kind})"
    if point.ended:
        return f"{what} had ended ({point.end_reason}); the run goes on after it"
    if point.attach:
        phase = f" in phase {point.phase + 1}" if point.phase else ""
        return f"re-attached to {what}{phase}, which kept running on the instrument"
    if point.soak_wall_s is not None:
        return (
            f"{what} was interrupted in its soak and runs again: if the chamber still holds "
            "its temperature the soak goes on where it was, otherwise it starts again"
        )
    return f"{what} was interrupted and runs again from its start, counters restored"
