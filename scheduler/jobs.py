"""A job's vocabulary, written once: its states and the parameters it keeps from submission.

States: held ⇄ queued → running → completed | failed | cancelled; running → pausing →
paused → resuming → running; a cancel of a running job is a request (cancelling) the daemon
carries out; running → interrupted (its daemon died) → running or queued on recovery.
`JobState` is a `StrEnum`, so a state read from the database compares equal to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scheduler.run_state import RunStatus


class JobState(StrEnum):
    HELD = "held"
    QUEUED = "queued"
    INTERRUPTED = "interrupted"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A daemon owns a job in one of these states (its run may be going on).
ACTIVE: tuple[JobState, ...] = (
    JobState.RUNNING,
    JobState.PAUSING,
    JobState.PAUSED,
    JobState.RESUMING,
    JobState.CANCELLING,
)
WAITING: tuple[JobState, ...] = (JobState.HELD, JobState.QUEUED, JobState.INTERRUPTED)
FINISHED: tuple[JobState, ...] = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)
STATES: tuple[JobState, ...] = (*WAITING, *ACTIVE, *FINISHED)


def job_state_after(run_status: str) -> JobState:
    """The state a job finishes in when its run ended with `run_status`: completed only
    when the run completed; a safety trip, an abort or a failure fail the job."""
    return JobState.COMPLETED if run_status == RunStatus.COMPLETED else JobState.FAILED


class SlotState(StrEnum):
    """What a slot is doing, as the daemon writes it for `status`."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"


class EstimateRecord(BaseModel):
    """The part of a plan's duration estimate a job keeps."""

    model_config = ConfigDict(extra="ignore")

    typical_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    unbounded: int = 0
    resources: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, estimate: Any) -> EstimateRecord:
        data = estimate.to_dict()
        return cls(
            typical_s=data["typical_s"],
            min_s=data["min_s"],
            max_s=data["max_s"],
            unbounded=len(data["unbounded"]),
            resources=data["resources"],
        )


class JobParams(BaseModel):
    """What a job keeps from its submission (stored as JSON in the job's `params`)."""

    model_config = ConfigDict(extra="ignore")

    protocol_name: str = ""
    protocol_source: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    capacity_basis: str | None = None
    estimate: EstimateRecord = Field(default_factory=EstimateRecord)
    fits: list[str] | None = None  # the slots an any-slot job fits; None: not checked
    # Jobs with the same group that change the temperature share their chamber's schedule:
    # the daemon starts them together and they wait for each other at every setpoint.
    group: str | None = None

    @classmethod
    def of(cls, job: Any) -> JobParams:
        """The parameters of a stored job (an old or hand-made row reads as defaults)."""
        return cls.model_validate(job.params or {})

    @property
    def changes_temperature(self) -> bool:
        """Does the job drive its chamber's temperature (so it needs the chamber)?"""
        return bool(self.estimate.resources.get("chamber"))

    def fits_slot(self, slot: str) -> bool:
        return self.fits is None or slot in self.fits
