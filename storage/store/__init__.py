"""The Store: every read and write the rest of cellbench does against the database."""

from __future__ import annotations

import hashlib
import math
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from storage.chunks import ChunkFormatError, decode_chunk
from storage.columns import INTEGER_FILL, SAMPLE_COLUMNS, empty_samples
from storage.engine import WRITE_OPTION, create_engine, resolve_url, translate_errors
from storage.errors import StorageError
from storage.migrate import upgrade
from storage.models import (
    Analysis,
    Cell,
    Event,
    Instrument,
    Job,
    JobTransition,
    MeasurementChunk,
    Protocol,
    Run,
    SlotState,
    Spectrum,
    StepRecord,
)
from storage.writer import SampleWriter

T = TypeVar("T", bound=SQLModel)
RUN_STATES = ("running", "completed", "failed", "aborted", "interrupted", "imported")
_CELL_FIELDS = (
    "chemistry",
    "active_mass_g",
    "area_cm2",
    "loading_mg_cm2",
    "specific_capacity_mAh_g",
    "nominal_capacity_mAh",
    "extra",
)


def jsonable(value: Any) -> Any:
    """Plain JSON for any engine: numpy to Python, NaN/inf to None (PostgreSQL rejects NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def sha256_text(text: str) -> str:
    """The protocol hash: sha256 of the UTF-8 source text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Store:
    """One database: cells, protocols, jobs, runs with their steps, samples, spectra and events."""

    def __init__(self, engine: Engine, name: str, url: str) -> None:
        self.engine = engine
        self.name = name
        self.url = url
        self._writer_engine = engine.execution_options(**{WRITE_OPTION: True})

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session whose failures become one-sentence StorageErrors naming this database."""
        bind = self._writer_engine if write else self.engine
        with translate_errors(self.name), Session(bind, expire_on_commit=False) as s:
            yield s
            if write:
                s.commit()

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, model: type[T], key: int, what: str) -> T:
        with self.session() as s:
            row = s.get(model, key)
        if row is None:
            raise StorageError(f"There is no {what} {key} in database {self.name}.")
        return row

    def _add(self, row: SQLModel) -> int:
        with self.session(write=True) as s:
            s.add(row)
            s.flush()
            assert row.id is not None  # type: ignore[attr-defined]
            return row.id  # type: ignore[attr-defined]

    # -- instruments ----------------------------------------------------------------------
    def upsert_instrument(self, info: dict[str, Any]) -> int:
        """Record an instrument by vendor|model|serial (or name); update firmware and endpoint."""
        fields = {
            k: str(info.get(k) or "")
            for k in ("name", "kind", "vendor", "model", "serial", "firmware", "endpoint")
        }
        identity = (
            "|".join([fields["vendor"], fields["model"], fields["serial"]])
            if fields["serial"]
            else fields["name"] or "|".join([fields["vendor"], fields["model"]])
        )
        now = time.time()
        caps = jsonable(info.get("capabilities")) if info.get("capabilities") else None
        for _ in range(2):  # a concurrent insert of the same identity retries as an update
            try:
                with self.session(write=True) as s:
                    row = s.exec(select(Instrument).where(Instrument.identity == identity)).first()
                    if row is None:
                        row = Instrument(identity=identity, first_seen_at=now, **fields)
                    else:
                        for k, v in fields.items():
                            if v:
                                setattr(row, k, v)
                    if caps is not None:
                        row.capabilities = caps
                    row.last_seen_at = now
                    s.add(row)
                    s.flush()
                    assert row.id is not None
                    return row.id
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError(f"Instrument {identity} could not be recorded in database {self.name}.")

    def list_instruments(self) -> list[Instrument]:
        """Every instrument ever seen, by id."""
        with self.session() as s:
            return list(s.exec(select(Instrument).order_by(col(Instrument.id))))

    # -- cells ----------------------------------------------------------------------------
    def add_cell(
        self,
        name: str,
        *,
        chemistry: str | None = None,
        active_mass_g: float | None = None,
        area_cm2: float | None = None,
        loading_mg_cm2: float | None = None,
        specific_capacity_mAh_g: float | None = None,
        nominal_capacity_mAh: float | None = None,
        extra: dict | None = None,
    ) -> int:
        """Create the cell, or update the fields given for an existing cell of that name."""
        name = name.strip()
        if not name:
            raise StorageError(f"A cell needs a non-empty name (database {self.name}).")
        given = {
            "chemistry": chemistry,
            "active_mass_g": active_mass_g,
            "area_cm2": area_cm2,
            "loading_mg_cm2": loading_mg_cm2,
            "specific_capacity_mAh_g": specific_capacity_mAh_g,
            "nominal_capacity_mAh": nominal_capacity_mAh,
            "extra": jsonable(extra) if extra is not None else None,
        }
        for key, value in given.items():
            if key != "extra" and key != "chemistry" and value is not None:
                if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                    raise StorageError(
                        f"Cell {name}: {key} must be a positive number, not {value!r}."
                    )
        for _ in range(2):
            try:
                with self.session(write=True) as s:
                    row = s.exec(select(Cell).where(Cell.name == name)).first()
                    if row is None:
                        row = Cell(name=name, created_at=time.time())
                    for key, value in given.items():
                        if value is not None:
                            setattr(row, key, value)
                    s.add(row)
                    s.flush()
                    assert row.id is not None
                    return row.id
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError(f"Cell {name} could not be recorded in database {self.name}.")

    def get_cell(self, name_or_id: str | int) -> Cell:
        """A cell by name, or by id (an int or a string of digits that names no cell)."""
        with self.session() as s:
            if isinstance(name_or_id, str):
                row = s.exec(select(Cell).where(Cell.name == name_or_id.strip())).first()
                if row is None and name_or_id.strip().isdigit():
                    row = s.get(Cell, int(name_or_id))
            else:
                row = s.get(Cell, int(name_or_id))
        if row is None:
            raise StorageError(f"There is no cell {name_or_id!r} in database {self.name}.")
        return row

    def list_cells(self) -> list[Cell]:
        """Every cell, by name."""
        with self.session() as s:
            return list(s.exec(select(Cell).order_by(col(Cell.name))))

    # -- protocols ------------------------------------------------------------------------
    def add_protocol(self, name: str, source_text: str) -> int:
        """Store a protocol's source text; the same text (same sha256) returns the same id."""
        digest = sha256_text(source_text)
        for _ in range(2):
            try:
                with self.session(write=True) as s:
                    row = s.exec(select(Protocol).where(Protocol.sha256 == digest)).first()
                    if row is None:
                        row = Protocol(
                            name=name,
                            sha256=digest,
                            source_text=source_text,
                            created_at=time.time(),
                        )
                        s.add(row)
                        s.flush()
                    assert row.id is not None
                    return row.id
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError(f"Protocol {name} could not be recorded in database {self.name}.")

    def get_protocol(self, protocol_id: int) -> Protocol:
        """A protocol with its source text."""
        return self._get(Protocol, protocol_id, "protocol")

    # -- jobs (the queue logic lives in the scheduler) ------------------------------------
    def add_job(
        self,
        *,
        protocol_id: int | None,
        cell_id: int | None,
        slot: str | None = None,
        priority: int = 0,
        submitted_by: str = "",
        state: str = "queued",
        params: dict | None = None,
        bench: str | None = None,
    ) -> int:
        """Queue entry plus its first history line."""
        now = time.time()
        with self.session(write=True) as s:
            job = Job(
                protocol_id=protocol_id,
                cell_id=cell_id,
                bench=bench,
                slot=slot,
                priority=priority,
                submitted_by=submitted_by,
                submitted_at=now,
                updated_at=now,
                state=state,
                params=jsonable(params) if params is not None else None,
            )
            s.add(job)
            s.flush()
            assert job.id is not None
            s.add(JobTransition(job_id=job.id, to_state=state, by=submitted_by, at=now))
            return job.id

    def get_job(self, job_id: int) -> Job:
        """One queue entry."""
        return self._get(Job, job_id, "job")

    def list_jobs(
        self, states: Sequence[str] | None = None, *, bench: str | None = None
    ) -> list[Job]:
        """Queue entries, highest priority first, FIFO within a priority.

        With `bench`, only the jobs for that bench and those for any bench.
        """
        query = select(Job).order_by(col(Job.priority).desc(), col(Job.id))
        if states:
            query = query.where(col(Job.state).in_(list(states)))
        if bench is not None:
            query = query.where(sa.or_(col(Job.bench) == bench, col(Job.bench).is_(None)))
        with self.session() as s:
            return list(s.exec(query))

    def set_job_state(
        self,
        job_id: int,
        state: str,
        *,
        by: str = "",
        note: str = "",
        expect: str | Sequence[str] | None = None,
    ) -> Job:
        """Change a job's state and log who did it; `expect` refuses a change from another state."""
        now = time.time()
        with self.session(write=True) as s:
            # Lock the row (PostgreSQL) so a concurrent claim or change cannot slip between
            # the check and the write; SQLite writers are already serialised (BEGIN IMMEDIATE).
            job = s.get(Job, job_id, with_for_update=True)
            if job is None:
                raise StorageError(f"There is no job {job_id} in database {self.name}.")
            allowed = [expect] if isinstance(expect, str) else expect
            if allowed is not None and job.state not in allowed:
                raise StorageError(
                    f"Job {job_id} is {job.state}, not {' or '.join(allowed)}, in database "
                    f"{self.name}."
                )
            s.add(
                JobTransition(
                    job_id=job_id, from_state=job.state, to_state=state, by=by, at=now, note=note
                )
            )
            job.state, job.updated_at = state, now
            if note:
                job.message = note
            s.add(job)
            return job

    def claim_job(self, job_id: int, *, slot: str, by: str, note: str = "") -> Job | None:
        """Move one queued job to running on `slot` for `by`, atomically; None if it was taken.

        PostgreSQL locks the row with ``SELECT … FOR UPDATE SKIP LOCKED``, so a job another
        daemon is claiming is skipped rather than waited for. SQLite runs a guarded
        ``UPDATE … WHERE state = 'queued'`` inside its write lock and checks the row count.
        """
        now = time.time()
        table = Job.__table__
        with self.session(write=True) as s:
            if self.dialect == "postgresql":
                locked = s.exec(
                    select(Job)
                    .where(Job.id == job_id, Job.state == "queued")
                    .with_for_update(skip_locked=True)
                ).first()
                if locked is None:
                    return None
            result = s.execute(
                sa.update(table)
                .where(table.c.id == job_id, table.c.state == "queued")
                .values(state="running", claimed_by=by, slot=slot, updated_at=now)
            )
            if result.rowcount != 1:
                return None
            s.add(
                JobTransition(
                    job_id=job_id, from_state="queued", to_state="running", by=by, at=now, note=note
                )
            )
            s.flush()
            s.expire_all()
            return s.get(Job, job_id)

    def job_history(self, job_id: int) -> list[JobTransition]:
        """Every state change of a job, oldest first."""
        query = (
            select(JobTransition)
            .where(JobTransition.job_id == job_id)
            .order_by(col(JobTransition.id))
        )
        with self.session() as s:
            return list(s.exec(query))

    # -- runs -----------------------------------------------------------------------------
    def start_run(
        self,
        *,
        cell_id: int | None,
        protocol_id: int | None,
        slot: str,
        bench: str = "",
        bench_text: str = "",
        instruments: list[dict] | None = None,
        capacity_basis: str = "",
        software_version: str = "",
        job_id: int | None = None,
        metadata: dict | None = None,
        status: str = "running",
        source: str = "cellbench",
    ) -> int:
        """Create a run with its provenance; each instrument is also recorded in `instruments`."""
        instruments = [jsonable(dict(i)) for i in instruments or []]
        for info in instruments:
            info["instrument_id"] = self.upsert_instrument(info)
        run = Run(
            job_id=job_id,
            cell_id=cell_id,
            protocol_id=protocol_id,
            slot=slot,
            bench=bench,
            bench_text=bench_text,
            instruments=instruments,
            capacity_basis=capacity_basis,
            software_version=software_version,
            host=socket.gethostname(),
            source=source,
            status=status,
            started_at=time.time(),
            meta=jsonable(metadata) if metadata is not None else None,
        )
        return self._add(run)

    def get_run(self, run_id: int) -> Run:
        """One run with its provenance."""
        return self._get(Run, run_id, "run")

    def latest_run_for_job(self, job_id: int) -> Run | None:
        """The newest run of a job (a resumed job keeps its run), or None before it starts."""
        query = select(Run).where(Run.job_id == job_id).order_by(col(Run.id).desc()).limit(1)
        with self.session() as s:
            return s.exec(query).first()

    def list_runs(
        self, *, cell_id: int | None = None, status: str | None = None, limit: int | None = None
    ) -> list[Run]:
        """Runs, oldest first (the last `limit` when given)."""
        query = select(Run).order_by(col(Run.id).desc())
        if cell_id is not None:
            query = query.where(Run.cell_id == cell_id)
        if status is not None:
            query = query.where(Run.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return list(reversed(s.exec(query).all()))

    def set_run_status(self, run_id: int, status: str, message: str = "") -> None:
        """Change a run's status without ending it (e.g. interrupted -> running on resume)."""
        with self.session(write=True) as s:
            run = s.get(Run, run_id)
            if run is None:
                raise StorageError(f"There is no run {run_id} in database {self.name}.")
            run.status, run.message = status, message or run.message
            if status == "running":
                run.ended_at = None
            s.add(run)

    def finish_run(self, run_id: int, status: str, message: str = "") -> None:
        """End a run: completed, failed, aborted or interrupted, with a reason."""
        with self.session(write=True) as s:
            run = s.get(Run, run_id)
            if run is None:
                raise StorageError(f"There is no run {run_id} in database {self.name}.")
            run.status, run.message, run.ended_at = status, message, time.time()
            s.add(run)

    # -- steps ----------------------------------------------------------------------------
    def start_step(
        self,
        run_id: int,
        *,
        step_count: int,
        step_index: int,
        kind: str,
        label: str = "",
        started_at_s: float,
        cycle: int = 0,
        data: dict | None = None,
    ) -> int:
        """Journal a step before it runs (end_reason stays None until `end_step`)."""
        return self._put_step(
            run_id,
            step_count=step_count,
            step_index=step_index,
            kind=kind,
            label=label,
            started_at_s=started_at_s,
            cycle=cycle,
            data=data,
        )

    def end_step(
        self,
        run_id: int,
        step_count: int,
        *,
        ended_at_s: float,
        end_reason: str,
        charge_Ah: float = 0.0,
        discharge_Ah: float = 0.0,
        data: dict | None = None,
    ) -> int:
        """Complete a journaled step with how it ended."""
        with self.session(write=True) as s:
            row = s.exec(
                select(StepRecord).where(
                    StepRecord.run_id == run_id, StepRecord.step_count == step_count
                )
            ).first()
            if row is None:
                raise StorageError(
                    f"Run {run_id} has no step {step_count} to end in database {self.name}."
                )
            row.ended_at_s, row.end_reason = float(ended_at_s), end_reason
            row.charge_Ah, row.discharge_Ah = float(charge_Ah), float(discharge_Ah)
            if data:
                row.data = {**(row.data or {}), **jsonable(data)}
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def record_step(
        self,
        run_id: int,
        *,
        step_count: int,
        step_index: int,
        kind: str,
        label: str,
        started_at_s: float,
        ended_at_s: float | None,
        end_reason: str | None,
        cycle: int,
        charge_Ah: float = 0.0,
        discharge_Ah: float = 0.0,
        data: dict | None = None,
    ) -> int:
        """Write a whole step record at once (replacing a journaled start of the same step)."""
        return self._put_step(
            run_id,
            step_count=step_count,
            step_index=step_index,
            kind=kind,
            label=label,
            started_at_s=started_at_s,
            ended_at_s=ended_at_s,
            end_reason=end_reason,
            cycle=cycle,
            charge_Ah=charge_Ah,
            discharge_Ah=discharge_Ah,
            data=data,
        )

    def _put_step(self, run_id: int, *, step_count: int, data: dict | None, **fields: Any) -> int:
        with self.session(write=True) as s:
            if s.get(Run, run_id) is None:
                raise StorageError(f"There is no run {run_id} in database {self.name}.")
            row = s.exec(
                select(StepRecord).where(
                    StepRecord.run_id == run_id, StepRecord.step_count == step_count
                )
            ).first()
            if row is None:
                row = StepRecord(run_id=run_id, step_count=step_count, step_index=0)
            for key, value in fields.items():
                setattr(row, key, float(value) if isinstance(value, np.floating) else value)
            if data is not None:
                row.data = jsonable(data)
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def steps(self, run_id: int) -> list[StepRecord]:
        """Every step of a run in the order it ran."""
        query = (
            select(StepRecord)
            .where(StepRecord.run_id == run_id)
            .order_by(col(StepRecord.step_count))
        )
        with self.session() as s:
            return list(s.exec(query))

    # -- samples --------------------------------------------------------------------------
    def open_writer(
        self, run_id: int, *, flush_interval_s: float = 0.5, chunk_rows: int | None = None
    ) -> SampleWriter:
        """A batched writer for a run's samples; it continues record numbering after a restart."""
        with self.session() as s:
            if s.get(Run, run_id) is None:
                raise StorageError(f"There is no run {run_id} in database {self.name}.")
            seq, last = s.exec(
                select(
                    sa.func.max(MeasurementChunk.seq), sa.func.max(MeasurementChunk.last_record)
                ).where(MeasurementChunk.run_id == run_id)
            ).one()
        kwargs = {"chunk_rows": chunk_rows} if chunk_rows else {}
        return SampleWriter(
            self.engine,
            self.name,
            run_id,
            next_seq=0 if seq is None else seq + 1,
            next_record=1 if last is None else last + 1,
            flush_interval_s=flush_interval_s,
            **kwargs,
        )

    def write_samples(self, run_id: int, columns: dict[str, Any]) -> int:
        """Write samples synchronously (imports, tests); returns rows committed."""
        writer = self.open_writer(run_id)
        try:
            writer.append(columns)
        finally:
            rows = writer.close()
        return rows

    def sample_count(self, run_id: int) -> int:
        """Rows stored for a run, without decoding them."""
        with self.session() as s:
            total = s.exec(
                select(sa.func.sum(MeasurementChunk.n_rows)).where(
                    MeasurementChunk.run_id == run_id
                )
            ).one()
        return int(total or 0)

    def last_sample(self, run_id: int) -> dict[str, float | int] | None:
        """The newest stored sample of a run (decoding only its last chunk), or None."""
        table = MeasurementChunk.__table__
        query = (
            sa.select(table.c.payload)
            .where(table.c.run_id == run_id)
            .order_by(table.c.last_record.desc(), table.c.seq.desc())
            .limit(1)
        )
        with translate_errors(self.name), self.engine.connect() as conn:
            blob = conn.execute(query).scalar()
        if blob is None:
            return None
        try:
            part = decode_chunk(blob)
        except ChunkFormatError as exc:
            raise StorageError(f"Run {run_id} in database {self.name}: {exc}.") from None
        if not len(part["record_index"]):
            return None
        last = int(np.argmax(part["record_index"]))
        return {key: part[key][last].item() for key in SAMPLE_COLUMNS if key in part}

    def read_samples(
        self, run_id: int, columns: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Every sample column of a run (or the ones asked for), ordered by record_index."""
        keys = list(SAMPLE_COLUMNS) if columns is None else list(columns)
        unknown = [k for k in keys if k not in SAMPLE_COLUMNS]
        if unknown:
            raise StorageError(f"Unknown sample column {unknown[0]!r} for run {run_id}.")
        table = MeasurementChunk.__table__
        query = sa.select(table.c.payload).where(table.c.run_id == run_id).order_by(table.c.seq)
        with translate_errors(self.name), self.engine.connect() as conn:
            blobs = conn.execute(query).scalars().all()
        if not blobs:
            empty = empty_samples()
            return {k: empty[k] for k in keys}
        try:
            parts = [decode_chunk(b) for b in blobs]
        except ChunkFormatError as exc:
            raise StorageError(f"Run {run_id} in database {self.name}: {exc}.") from None
        out = {}
        for key in dict.fromkeys([*keys, "record_index"]):
            dtype = SAMPLE_COLUMNS[key][1]
            fill = INTEGER_FILL if dtype.kind == "i" else np.nan
            arrays = [
                p[key] if key in p else np.full(len(p["record_index"]), fill, dtype) for p in parts
            ]
            out[key] = (arrays[0] if len(arrays) == 1 else np.concatenate(arrays)).astype(
                dtype, copy=False
            )
        rec = out["record_index"]
        if len(rec) > 1 and bool((np.diff(rec) < 0).any()):
            order = np.argsort(rec, kind="stable")
            out = {k: v[order] for k, v in out.items()}
        return {k: out[k] for k in keys}

    # -- spectra --------------------------------------------------------------------------
    def add_spectrum(
        self,
        run_id: int,
        *,
        step_count: int,
        frequency_Hz: Sequence[float] | np.ndarray,
        z_real_ohm: Sequence[float] | np.ndarray,
        z_imag_ohm: Sequence[float] | np.ndarray,
        temperature_degC: float | None = None,
        data: dict | None = None,
    ) -> int:
        """Store one spectrum; Z'' is negative for capacitive behaviour (BDF convention)."""
        f, zr, zi = (
            np.asarray(a, dtype=float).ravel() for a in (frequency_Hz, z_real_ohm, z_imag_ohm)
        )
        if not len(f) == len(zr) == len(zi):
            raise StorageError(
                f"Spectrum for run {run_id} has {len(f)} frequencies but {len(zr)} real and "
                f"{len(zi)} imaginary values."
            )
        self.get_run(run_id)
        temp = None if temperature_degC is None else float(temperature_degC)
        return self._add(
            Spectrum(
                run_id=run_id,
                step_count=step_count,
                n_points=len(f),
                frequency_Hz=jsonable(f),
                z_real_ohm=jsonable(zr),
                z_imag_ohm=jsonable(zi),
                temperature_degC=temp if temp is None or math.isfinite(temp) else None,
                data=jsonable(data) if data is not None else None,
                created_at=time.time(),
            )
        )

    def spectra(self, run_id: int) -> list[Spectrum]:
        """A run's spectra in the order they were measured."""
        query = select(Spectrum).where(Spectrum.run_id == run_id).order_by(col(Spectrum.id))
        with self.session() as s:
            return list(s.exec(query))

    # -- events and analyses --------------------------------------------------------------
    def add_event(
        self,
        kind: str,
        message: str,
        *,
        run_id: int | None = None,
        severity: str = "info",
        data: dict | None = None,
        bench: str | None = None,
        slot: str | None = None,
    ) -> int:
        """Log a safety trip, reconnect or operator action (optionally tied to a run).

        Severity "alarm" latches: the event stays active until `ack_alarms` acknowledges it.
        """
        return self._add(
            Event(
                run_id=run_id,
                at=time.time(),
                kind=kind,
                severity=severity,
                message=message,
                data=jsonable(data) if data is not None else None,
                bench=bench,
                slot=slot,
            )
        )

    def get_event(self, event_id: int) -> Event:
        """One event (or alarm)."""
        return self._get(Event, event_id, "event")

    def _alarms_query(self, bench: str | None) -> Any:
        query = (
            select(Event)
            .where(Event.severity == "alarm", col(Event.acked_at).is_(None))
            .order_by(col(Event.id))
        )
        if bench is not None:
            # An alarm belongs to a bench by its own column, else through its run.
            runs_of_bench = select(Run.id).where(Run.bench == bench)
            query = query.where(
                sa.or_(
                    col(Event.bench) == bench,
                    sa.and_(col(Event.bench).is_(None), col(Event.run_id).in_(runs_of_bench)),
                )
            )
        return query

    def active_alarms(self, bench: str | None = None) -> list[Event]:
        """Latched alarms nobody has acknowledged yet, oldest first (one bench's if given)."""
        with self.session() as s:
            return list(s.exec(self._alarms_query(bench)))

    def ack_alarms(
        self, ids: Sequence[int] | None, *, by: str, bench: str | None = None
    ) -> list[Event]:
        """Acknowledge the given alarms (or every active one, of one bench if given).

        Returns the alarms this call acknowledged; an alarm acknowledged before is left as
        it was (its first acknowledgement is the record).
        """
        now = time.time()
        with self.session(write=True) as s:
            if ids is not None:
                rows = []
                for alarm_id in ids:
                    row = s.get(Event, alarm_id, with_for_update=True)
                    if row is None or row.severity != "alarm":
                        raise StorageError(f"There is no alarm {alarm_id} in database {self.name}.")
                    if row.acked_at is None:
                        rows.append(row)
            else:
                rows = list(s.exec(self._alarms_query(bench).with_for_update()))
            for row in rows:
                row.acked_at, row.acked_by = now, by
                s.add(row)
            return rows

    # -- live slot states -----------------------------------------------------------------
    _SLOT_FIELDS = (
        "state",
        "job_id",
        "run_id",
        "step_index",
        "step_label",
        "cycle",
        "voltage_V",
        "current_A",
        "temperature_degC",
        "pressure_Pa",
        "progress",
        "remaining_s",
        "message",
    )

    def upsert_slot_state(self, bench: str, slot: str, **fields: Any) -> None:
        """Record a slot's latest live state; fields not given keep their stored values.

        Fields: state, job_id, run_id, step_index, step_label, cycle, voltage_V, current_A,
        temperature_degC, pressure_Pa, progress (0..1), remaining_s, message.
        """
        unknown = sorted(set(fields) - set(self._SLOT_FIELDS))
        if unknown:
            raise StorageError(
                f"Slot state has no field {unknown[0]!r}; known: {', '.join(self._SLOT_FIELDS)}."
            )
        clean = {}
        for key, value in fields.items():
            value = jsonable(value)  # numpy to Python, NaN to None
            clean[key] = value
        for _ in range(2):  # a concurrent first insert for the same slot retries as an update
            try:
                with self.session(write=True) as s:
                    row = s.exec(
                        select(SlotState).where(SlotState.bench == bench, SlotState.slot == slot)
                    ).first()
                    if row is None:
                        row = SlotState(bench=bench, slot=slot)
                    for key, value in clean.items():
                        setattr(
                            row,
                            key,
                            "" if value is None and key in ("step_label", "message") else value,
                        )
                    row.updated_at = time.time()
                    s.add(row)
                    return
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError(f"Slot {slot} of bench {bench} could not be recorded in {self.name}.")

    def slot_states(self, bench: str | None = None) -> list[SlotState]:
        """The latest state of every slot (of one bench if given), by bench and slot."""
        query = select(SlotState).order_by(col(SlotState.bench), col(SlotState.slot))
        if bench is not None:
            query = query.where(SlotState.bench == bench)
        with self.session() as s:
            return list(s.exec(query))

    def events(self, run_id: int | None = None, *, limit: int | None = None) -> list[Event]:
        """Events oldest first; only a run's when `run_id` is given."""
        query = select(Event).order_by(col(Event.id).desc())
        if run_id is not None:
            query = query.where(Event.run_id == run_id)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return list(reversed(s.exec(query).all()))

    def add_analysis(self, run_id: int, kind: str, result: dict) -> int:
        """Store one analysis result (JSON) for a run."""
        self.get_run(run_id)
        return self._add(
            Analysis(run_id=run_id, kind=kind, result=jsonable(result), created_at=time.time())
        )

    def analyses(self, run_id: int, kind: str | None = None) -> list[Analysis]:
        """A run's analysis results, oldest first."""
        query = select(Analysis).where(Analysis.run_id == run_id).order_by(col(Analysis.id))
        if kind is not None:
            query = query.where(Analysis.kind == kind)
        with self.session() as s:
            return list(s.exec(query))


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the database at `url`, $CELLBENCH_DB or default."""
    resolved = resolve_url(url)
    engine, name = create_engine(resolved)
    with translate_errors(name):
        upgrade(engine, name)
    return Store(engine, name, resolved)
