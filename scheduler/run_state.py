"""What a run is and where it stands: its counters, its steps' results, where an interrupted
run continues, and the safety check every sample passes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from protocols import steps as p


class RunStatus(StrEnum):
    """How a run stands or ended (the runs table's `status`)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SAFETY = "safety"  # a safety limit tripped (the protocol's or the slot's hard limits)
    ABORTED = "aborted"  # a step's limit said so, or the operator stopped it
    INTERRUPTED = "interrupted"  # its host went away; it may resume
    PAUSED = "paused"
    CANCELLED = "cancelled"


@dataclass
class RunState:
    """What the run is doing now; shown by progress displays and telemetry."""

    cycle: int = 1
    step_count: int = 0
    step: p.Step | None = None
    test_time_s: float = 0.0
    step_time_s: float = 0.0
    voltage_V: float = math.nan
    current_A: float = 0.0
    charge_Ah: float = 0.0
    discharge_Ah: float = 0.0
    charge_Wh: float = 0.0
    discharge_Wh: float = 0.0
    record_index: int = 0


# The counters each step's journal keeps: a resumed run counts on from them.
JOURNALED_COUNTERS = (
    "cycle",
    "step_count",
    "test_time_s",
    "charge_Ah",
    "discharge_Ah",
    "charge_Wh",
    "discharge_Wh",
    "record_index",
)


def journaled_counters(state: RunState) -> dict[str, Any]:
    """The run's counters as a step's journal stores them."""
    return {name: getattr(state, name) for name in JOURNALED_COUNTERS}


@dataclass
class StepResult:
    step: p.Step
    step_count: int
    cycle: int
    started_s: float
    ended_s: float
    end_reason: str
    fired: p.Limit | None
    charge_Ah: float
    discharge_Ah: float


@dataclass
class ResumePoint:
    """Where an interrupted run continues: its sequencer, its counters, and how.

    `attach` means the interrupted step may still be running on the instrument (an
    on-device script), so the runner re-attaches to it, in its journaled `phase` (a CC-CV's
    CV phase is phase 1, whose step time starts at `phase_offset_s`), instead of starting
    it again. `ended` means the journaled step had ended (its end is journaled): the run
    goes on after it, as the sequencer decides from `fired` (the index of the step's limit
    that ended it, or None). A `sequencer_state` of None means no step was journaled yet:
    the run starts at its first step.
    """

    sequencer_state: dict[str, Any] | None
    counters: RunState
    interrupted_step_count: int
    attach: bool = False
    step_samples: int | None = None  # samples of the interrupted phase already committed
    unix_anchor_s: float | None = None  # Unix time at test time 0, as the first process stored it
    ended: bool = False
    end_reason: str = ""
    fired: int | None = None
    phase: int = 0
    phase_offset_s: float = 0.0
    step_started_s: float = 0.0  # test time at the interrupted step's start
    step_wall_s: float | None = None  # Unix wall time at that start (bounds of a lost end)
    soak_wall_s: float | None = None  # Unix wall time its soak began, if it had (a host step)
    last_stored_s: float | None = None  # test time of the last committed sample of the step
    journal: dict[str, Any] = field(default_factory=dict)  # the step's journal at its start
    step_open: bool = False  # the step's end is not journaled at all (a crash, not a stop)


@dataclass
class RunResult:
    status: str  # a RunStatus
    message: str
    steps: list[StepResult] = field(default_factory=list)
    state: RunState = field(default_factory=RunState)


Progress = Callable[[str, RunState], None]


class SafetyTrip(Exception):
    """A whole-protocol safety limit was breached."""


class Interrupted(Exception):
    """Someone outside the run (supervisor, operator) stopped it; carries the run status."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def safety_breach(safety: p.Safety, voltage: float, current: float, charge: float) -> str | None:
    """Which whole-protocol safety limit a sample breaks, in words, or None."""
    if safety.voltage_max_V is not None and voltage > safety.voltage_max_V:
        return f"voltage {voltage:.4f} V above the safety limit {safety.voltage_max_V:g} V"
    if safety.voltage_min_V is not None and voltage < safety.voltage_min_V:
        return f"voltage {voltage:.4f} V below the safety limit {safety.voltage_min_V:g} V"
    if safety.abs_current_max_A is not None and abs(current) > safety.abs_current_max_A * 1.0001:
        return (
            f"current {current * 1e3:.4g} mA beyond the safety limit "
            f"{safety.abs_current_max_A * 1e3:g} mA"
        )
    if safety.capacity_max_Ah is not None and charge > safety.capacity_max_Ah:
        return f"step capacity {charge * 1e3:.4g} mAh beyond {safety.capacity_max_Ah * 1e3:g} mAh"
    return None
