"""The database schema (SQLModel tables). Times are Unix seconds (float, UTC) on every engine.

Schema changes need a migration in `storage/migrations/versions/`; a test checks that the
migrations produce exactly these tables.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a model (SQLModel does not declare `__table__` for type checkers)."""
    return cast(sa.Table, sa.inspect(model).local_table)


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Instrument(SQLModel, table=True):
    """One physical instrument, identified by vendor, model and serial number."""

    __tablename__ = "instruments"

    id: int | None = Field(default=None, primary_key=True)
    identity: str = Field(unique=True, description="vendor|model|serial, the stable key")
    name: str = ""
    kind: str = ""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    endpoint: str = ""
    capabilities: dict | None = _json()
    first_seen_at: float = 0.0
    last_seen_at: float = 0.0


class Cell(SQLModel, table=True):
    """A cell under test and what its capacity basis is computed from."""

    __tablename__ = "cells"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    chemistry: str | None = None
    active_mass_g: float | None = None
    area_cm2: float | None = None
    loading_mg_cm2: float | None = None
    specific_capacity_mAh_g: float | None = None
    nominal_capacity_mAh: float | None = None
    extra: dict | None = _json()
    created_at: float = 0.0


class Protocol(SQLModel, table=True):
    """A protocol's source text exactly as run; the sha256 deduplicates identical texts."""

    __tablename__ = "protocols"

    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    sha256: str = Field(unique=True)
    source_text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: float = 0.0


class Job(SQLModel, table=True):
    """A queue entry: a protocol for a cell, on a slot (or any slot that fits)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_priority", "state", "priority", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    state: str = "queued"
    priority: int = 0
    bench: str | None = None  # the bench whose slots may run it (None: any bench)
    slot: str | None = None
    protocol_id: int | None = Field(default=None, foreign_key="protocols.id")
    cell_id: int | None = Field(default=None, foreign_key="cells.id")
    submitted_by: str = ""
    submitted_at: float = 0.0
    updated_at: float = 0.0
    claimed_by: str | None = None
    message: str = ""
    params: dict | None = _json()


class JobTransition(SQLModel, table=True):
    """One change of a job's state: who, when, from what to what."""

    __tablename__ = "job_transitions"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    from_state: str | None = None
    to_state: str = ""
    by: str = ""
    at: float = 0.0
    note: str = ""


class Run(SQLModel, table=True):
    """One execution of a protocol on a slot, with everything needed to reproduce it."""

    __tablename__ = "runs"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, foreign_key="jobs.id", index=True)
    cell_id: int | None = Field(default=None, foreign_key="cells.id", index=True)
    protocol_id: int | None = Field(default=None, foreign_key="protocols.id")
    slot: str = ""
    bench: str = ""
    bench_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    instruments: list | None = _json()
    capacity_basis: str = ""
    software_version: str = ""
    host: str = Field(default="", sa_column_kwargs={"server_default": ""})
    source: str = "cellbench"
    status: str = "running"
    message: str = ""
    started_at: float = 0.0
    ended_at: float | None = None
    meta: dict | None = Field(default=None, sa_column=Column("metadata", JSON, nullable=True))


class StepRecord(SQLModel, table=True):
    """How one executed step started and ended; journaled at start, completed at end."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("run_id", "step_count", name="uq_steps_run_step_count"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    step_count: int
    step_index: int
    kind: str = ""
    label: str = ""
    cycle: int = 0
    started_at_s: float = 0.0
    ended_at_s: float | None = None
    end_reason: str | None = None
    charge_Ah: float = 0.0
    discharge_Ah: float = 0.0
    data: dict | None = _json()


class MeasurementChunk(SQLModel, table=True):
    """One flushed batch of samples: every BDF column as a compressed array (see chunks.py)."""

    __tablename__ = "measurement_chunks"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_measurement_chunks_run_seq"),
        Index("ix_measurement_chunks_run_t", "run_id", "t_first_s"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id")
    seq: int
    n_rows: int
    first_record: int
    last_record: int
    t_first_s: float | None = None  # None when the batch had no test time
    t_last_s: float | None = None
    step_count_first: int
    step_count_last: int
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    written_at: float = 0.0


class Spectrum(SQLModel, table=True):
    """One impedance spectrum (BDF sign: imaginary part negative for capacitive)."""

    __tablename__ = "spectra"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    step_count: int
    n_points: int
    frequency_Hz: list | None = _json()
    z_real_ohm: list | None = _json()
    z_imag_ohm: list | None = _json()
    temperature_degC: float | None = None
    data: dict | None = _json()
    created_at: float = 0.0


class Event(SQLModel, table=True):
    """Something that happened: a safety trip, a reconnect, an operator action.

    An event of severity "alarm" is latched: it stays active until someone acknowledges it
    (`acked_at`, `acked_by`).
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_severity_acked", "severity", "acked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="runs.id", index=True)
    at: float = 0.0
    kind: str = ""
    severity: str = "info"
    message: str = ""
    data: dict | None = _json()
    bench: str | None = None
    slot: str | None = None
    acked_at: float | None = None
    acked_by: str | None = None


class Analysis(SQLModel, table=True):
    """One analysis result for a run (cycle summary, GITT table, EIS fit...)."""

    __tablename__ = "analyses"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    kind: str = ""
    result: dict | None = _json()
    created_at: float = 0.0


class SlotState(SQLModel, table=True):
    """The latest live state of one slot, upserted by the daemon that runs it."""

    __tablename__ = "slot_states"
    __table_args__ = (UniqueConstraint("bench", "slot", name="uq_slot_states_bench_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    bench: str = ""
    slot: str = ""
    state: str = "idle"  # idle | running | paused | alarm | offline ...
    job_id: int | None = Field(default=None, foreign_key="jobs.id")
    run_id: int | None = Field(default=None, foreign_key="runs.id")
    step_index: int | None = None
    step_label: str = ""
    cycle: int | None = None
    voltage_V: float | None = None
    current_A: float | None = None
    temperature_degC: float | None = None
    pressure_Pa: float | None = None
    progress: float | None = None  # fraction of the job's estimated duration, 0..1
    remaining_s: float | None = None
    message: str = ""
    updated_at: float = 0.0
