"""The queue's rows: jobs and their state history (the queue's rules live in the scheduler)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select

from storage.errors import StorageError
from storage.models import Job, JobTransition, table_of
from storage.store.base import StoreBase, json_or_none, row_id


class JobStore(StoreBase):
    """Queue entries, state changes that are checked and logged, and atomic claims."""

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
                params=json_or_none(params),
            )
            s.add(job)
            s.flush()
            job_id = row_id(job)
            s.add(JobTransition(job_id=job_id, to_state=state, by=submitted_by, at=now))
            return job_id

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
        return self._all(query)

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
            job = self._fetch(s, Job, job_id, "job", lock=True)
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
        table = table_of(Job)
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
            if cast(CursorResult, result).rowcount != 1:
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
        return self._all(
            select(JobTransition)
            .where(JobTransition.job_id == job_id)
            .order_by(col(JobTransition.id))
        )
