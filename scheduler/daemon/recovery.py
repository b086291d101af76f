"""After a crash or a stop: find the runs that were running and continue them.

A run that had finished closes its job; a step still running on its instrument is
re-attached and its missed samples are fetched; any other run resumes at its interrupted
step (or after its last ended one) with its counters restored (the resume point comes from
the run's journal: `scheduler.daemon.journal`, whose docstring is the recovery state machine).
With `recovery = "auto"` this happens at once; with `"ack"` the daemon raises an alarm and
waits for an operator to resume the job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scheduler import crashpoints, kinds, queue
from scheduler.bench import Bench
from scheduler.daemon.journal import describe, resume_point
from scheduler.errors import SchedulerError
from scheduler.jobs import ACTIVE, JobState
from scheduler.run_state import RunStatus

# A run in one of these states has ended: recovery closes its job instead of resuming it.
ENDED_RUNS = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.SAFETY,
    RunStatus.ABORTED,
    RunStatus.CANCELLED,
)

if TYPE_CHECKING:
    from scheduler.daemon.lifecycle import Daemon


def can_reattach(bench: Bench, slot: str) -> bool:
    """Does the slot's potentiostat keep a step running without its host, and re-attach?"""
    config = bench.instrument(bench.slot(slot).potentiostat)
    capabilities = kinds.kind_of(config).capabilities_for(config)
    return bool(capabilities.on_device_limits and capabilities.can_reattach)


async def recover(daemon: Daemon) -> None:
    """Find this bench's jobs that were running when the daemon went away."""
    db = daemon.db
    jobs = await db.list_jobs([*ACTIVE, JobState.INTERRUPTED], bench=daemon.name)
    for job in jobs:
        if not daemon.owns(job.slot) or job.slot in daemon.active:
            continue  # another daemon's slot of a bench shared by several daemons
        run = await db.latest_run_for_job(job.id)
        if run is not None and run.status in ENDED_RUNS and job.state != JobState.INTERRUPTED:
            await close_ended(daemon, job, run)
            continue
        await _recover_job(daemon, job, run)


async def close_ended(daemon: Daemon, job: Any, run: Any) -> None:
    """The run had ended before its job was closed: close the job as the run ended."""
    await daemon.db.with_store(daemon.close_job, job.id, run.status, run.message or "")
    crashpoints.point("recovery_job_closed", job.id)
    await daemon.db.add_event(
        "recovered",
        f"job {job.id} on slot {job.slot}: its run had ended ({run.status}) before the "
        "daemon went away; the job is closed, nothing runs again",
        run_id=run.id,
        bench=daemon.name,
        slot=job.slot,
    )


async def _recover_job(daemon: Daemon, job: Any, run: Any) -> None:
    db = daemon.db
    crashed = job.state != JobState.INTERRUPTED
    message = (
        f"job {job.id} on slot {job.slot} was running when the daemon "
        f"{'went away' if crashed else 'stopped'}"
    )
    if crashed:
        await db.with_store(
            queue.interrupt, job.id, by=daemon.daemon_id, note="found after a crash"
        )
        crashpoints.point("recovery_job_interrupted", job.id)
    if run is not None and run.status != RunStatus.INTERRUPTED:
        await db.set_run_status(run.id, RunStatus.INTERRUPTED, "daemon crash")
        crashpoints.point("recovery_run_interrupted", job.id)
    where = {"run_id": run.id if run else None, "bench": daemon.name, "slot": job.slot}
    await db.add_event("interrupted", message, severity="warning", **where)
    if job.state == JobState.PAUSED:
        return
    if daemon.bench.bench.recovery == "auto":
        await resume(daemon, await db.get_job(job.id))
    else:
        await db.add_event(
            "recovery",
            f"{message}; acknowledge the alarm and resume job {job.id} to continue",
            severity="alarm",
            **where,
        )


async def resume_acknowledged(daemon: Daemon, alarmed: set[str]) -> None:
    """Resume jobs an operator asked to resume, once no alarm blocks their slot."""
    for job in await daemon.db.list_jobs([JobState.RESUMING], bench=daemon.name):
        if not daemon.owns(job.slot) or job.slot in daemon.active or job.slot in alarmed:
            continue
        await resume(daemon, job)


async def resume(daemon: Daemon, job: Any) -> None:
    """Continue `job` at its resume point, or give it back to the queue if it never ran."""
    db, by = daemon.db, daemon.daemon_id
    run = await db.latest_run_for_job(job.id)
    if run is None:
        await db.with_store(queue.recover, job.id, by=by, to=JobState.QUEUED, note="no run yet")
        return
    try:
        point = await db.with_store(
            resume_point, run.id, can_attach=can_reattach(daemon.bench, job.slot)
        )
    except SchedulerError as exc:
        await db.with_store(queue.finish, job.id, JobState.FAILED, by=by, note=str(exc))
        return
    if job.state == JobState.INTERRUPTED:
        await db.with_store(queue.recover, job.id, by=by, to=JobState.RUNNING, note="resumed")
    elif job.state == JobState.RESUMING:
        await db.with_store(queue.confirm, job.id, by=by, note="resumed")
    crashpoints.point("recovery_job_resumed", job.id)
    await db.add_event("resumed", describe(point), run_id=run.id, bench=daemon.name, slot=job.slot)
    daemon.launch(await db.get_job(job.id), job.slot, resume=point, run_id=run.id)
