"""Runs with their provenance, the journal of their steps, and the analyses of finished runs."""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np
from sqlmodel import col, select

from storage.errors import StorageError
from storage.models import Analysis, Run, StepRecord
from storage.store.base import json_or_none, jsonable, row_id
from storage.store.catalog import CatalogStore


class RunStore(CatalogStore):
    """A run records its instruments in the catalogue, so this part builds on `CatalogStore`."""

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
            meta=json_or_none(metadata),
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
        return self._last(query, limit)

    def set_run_status(self, run_id: int, status: str, message: str = "") -> None:
        """Change a run's status without ending it (e.g. interrupted -> running on resume)."""
        with self.session(write=True) as s:
            run = self._fetch(s, Run, run_id, "run")
            run.status, run.message = status, message or run.message
            if status == "running":
                run.ended_at = None
            s.add(run)

    def finish_run(self, run_id: int, status: str, message: str = "") -> None:
        """End a run: completed, failed, aborted or interrupted, with a reason."""
        with self.session(write=True) as s:
            run = self._fetch(s, Run, run_id, "run")
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
        begun = dict(step_index=step_index, kind=kind, label=label, started_at_s=started_at_s)
        return self._put_step(run_id, step_count, data, {**begun, "cycle": cycle})

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
            return row_id(row)

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
        begun = dict(step_index=step_index, kind=kind, label=label, started_at_s=started_at_s)
        ended = dict(ended_at_s=ended_at_s, end_reason=end_reason, cycle=cycle)
        amounts = dict(charge_Ah=charge_Ah, discharge_Ah=discharge_Ah)
        return self._put_step(run_id, step_count, data, {**begun, **ended, **amounts})

    def _put_step(
        self, run_id: int, step_count: int, data: dict | None, fields: dict[str, Any]
    ) -> int:
        """Insert or replace the step `step_count` of a run with `fields` (and `data`)."""
        with self.session(write=True) as s:
            self._fetch(s, Run, run_id, "run")
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
            return row_id(row)

    def steps(self, run_id: int) -> list[StepRecord]:
        """Every step of a run in the order it ran."""
        return self._all(
            select(StepRecord)
            .where(StepRecord.run_id == run_id)
            .order_by(col(StepRecord.step_count))
        )

    # -- analyses -------------------------------------------------------------------------
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
        return self._all(query)
