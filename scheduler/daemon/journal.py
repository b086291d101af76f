"""Where an interrupted run continues, rebuilt from what was committed before the crash.

The runner journals each step before it starts, with the sequencer's state and the run's
counters. After a crash the last committed sample carries the counters as they were when
the data stopped (cumulative capacity and energy, test time, record index). Together they
say which step was running, how far it had got, and what the counters were, so that the
run continues with continuous counters and no committed sample is lost or repeated.
"""

from __future__ import annotations

import math
from typing import Any

from protocols import steps as p
from scheduler.errors import SchedulerError
from scheduler.runner import ResumePoint, RunState

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


def resume_point(store: Any, run_id: int, *, can_attach: bool) -> ResumePoint:
    """Build the ResumePoint of an interrupted run from its journal and committed samples."""
    steps = store.steps(run_id)
    journaled = [s for s in steps if (s.data or {}).get("sequencer")]
    if not journaled:
        raise SchedulerError(f"run {run_id} has no journaled step to resume from")
    last = max(journaled, key=lambda s: s.step_count)
    journal = last.data or {}
    saved = journal.get("counters", {})
    state = RunState(
        cycle=int(saved.get("cycle", last.cycle or 1)),
        step_count=int(saved.get("step_count", last.step_count)),
        test_time_s=float(saved.get("test_time_s", last.started_at_s)),
        charge_Ah=float(saved.get("charge_Ah", 0.0)),
        discharge_Ah=float(saved.get("discharge_Ah", 0.0)),
        charge_Wh=float(saved.get("charge_Wh", 0.0)),
        discharge_Wh=float(saved.get("discharge_Wh", 0.0)),
        record_index=int(saved.get("record_index", 0)),
    )
    samples = store.read_samples(run_id, columns=COUNTER_COLUMNS)
    unix_anchor: float | None = None
    if len(samples["record_index"]):
        k = int(samples["record_index"].argmax())
        state.record_index = int(samples["record_index"][k])
        state.test_time_s = float(samples["test_time_s"][k])
        unix_anchor = float(samples["unix_time_s"][k]) - state.test_time_s
        state.charge_Ah = float(samples["charge_capacity_Ah"][k])
        state.discharge_Ah = float(samples["discharge_capacity_Ah"][k])
        state.charge_Wh = float(samples["charge_energy_Wh"][k])
        state.discharge_Wh = float(samples["discharge_energy_Wh"][k])
        state.voltage_V = float(samples["voltage_V"][k])
        state.current_A = float(samples["current_A"][k])
        if int(samples["step_count"][k]) == last.step_count:
            state.step_time_s = float(samples["step_time_s"][k])
    in_step = samples["step_count"] == last.step_count if len(samples["step_count"]) else []
    step_samples = int(sum(in_step)) if len(samples["step_count"]) else 0
    still_running = last.end_reason is None
    attach = can_attach and still_running and last.kind in ON_DEVICE_KINDS
    if not attach and not math.isfinite(state.test_time_s):
        state.test_time_s = last.started_at_s
    return ResumePoint(
        sequencer_state=journal["sequencer"],
        counters=state,
        interrupted_step_count=last.step_count,
        attach=attach,
        step_samples=step_samples,
        unix_anchor_s=unix_anchor
        if unix_anchor is not None and math.isfinite(unix_anchor)
        else None,
    )


def describe(point: ResumePoint, step: p.Step | None = None) -> str:
    """One sentence for the event log."""
    what = f"step {point.interrupted_step_count}"
    if step is not None:
        what += f" ({step.label or step.kind})"
    if point.attach:
        return f"re-attached to {what}, which kept running on the instrument"
    return f"{what} was interrupted and runs again from its start, counters restored"
