"""The job queue: submission checked against the bench, state rules, claims, alarms.

The queue lives in the database, so the CLI and any number of daemons share it. Jobs run
highest priority first and first-in first-out within a priority. A job is refused at
submission when its slot cannot run it (EIS on a DC SourceMeter, more current than the slot
allows, a temperature step without a chamber…), so a technician learns it at the bench, not
at 3 a.m. when the step comes up.

States: held ⇄ queued → running → completed | failed | cancelled; running → pausing →
paused → resuming → running; a cancel of a running job is a request (cancelling) the daemon
carries out; running → interrupted (its daemon died) → running or queued on recovery.
Every change goes through `Store.set_job_state`, so the history says who and when.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.estimate import estimate
from scheduler.binding import CellInfo, bind
from scheduler.checks import fitting_slots
from scheduler.claim_policy import BenchView, RunningJob, plan_claims
from scheduler.errors import SchedulerError
from scheduler.jobs import ACTIVE, FINISHED, EstimateRecord, JobParams, JobState
from storage.errors import StorageError

# -- states ---------------------------------------------------------------------------------
S = JobState


@dataclass(frozen=True)
class Rule:
    """One operator or daemon action: the states it may start from, and where each goes."""

    moves: dict[str, str]  # from state -> to state
    already: tuple[str, ...]  # states where the action has nothing left to do
    only: str  # "queued or held jobs can be held"


RULES: dict[str, Rule] = {
    "hold": Rule({S.QUEUED: S.HELD}, (S.HELD,), "queued or held jobs can be held"),
    "release": Rule({S.HELD: S.QUEUED}, (S.QUEUED,), "held or queued jobs can be released"),
    "cancel": Rule(
        {
            S.HELD: S.CANCELLED,
            S.QUEUED: S.CANCELLED,
            S.INTERRUPTED: S.CANCELLED,
            S.RUNNING: S.CANCELLING,
            S.PAUSING: S.CANCELLING,
            S.PAUSED: S.CANCELLING,
            S.RESUMING: S.CANCELLING,
        },
        (S.CANCELLING, S.CANCELLED),
        "jobs that have not finished can be cancelled",
    ),
    "pause": Rule(
        {S.RUNNING: S.PAUSING, S.RESUMING: S.PAUSING},
        (S.PAUSING, S.PAUSED),
        "running jobs can be paused",
    ),
    "resume": Rule(
        {S.PAUSED: S.RESUMING, S.PAUSING: S.RESUMING, S.INTERRUPTED: S.RESUMING},
        (S.RESUMING, S.RUNNING),
        "paused or interrupted jobs can be resumed",
    ),
    # What the daemon reports back.
    "confirm": Rule(
        {S.PAUSING: S.PAUSED, S.RESUMING: S.RUNNING, S.CANCELLING: S.CANCELLED},
        (),
        "jobs with a pause, resume or cancel request can have it confirmed",
    ),
    "interrupt": Rule(
        {s: S.INTERRUPTED for s in ACTIVE},
        (S.INTERRUPTED,),
        "running, pausing, paused, resuming or cancelling jobs can be interrupted",
    ),
}
FINISH_FROM = ACTIVE
RECOVER_TO = (S.RUNNING, S.QUEUED)


def _change(store: Any, job_id: int, action: str, *, by: str, note: str = "") -> Any:
    """Apply `action` to a job under the rules; a wrong transition is one clear sentence.

    The write expects exactly the state that was read, so a job a daemon claimed or
    finished in between is judged again in its new state rather than moved wrongly.
    """
    rule = RULES[action]
    by = _who(by)
    for _ in range(5):
        job = store.get_job(job_id)
        if job.state in rule.already:
            return job
        target = rule.moves.get(job.state)
        if target is None:
            raise SchedulerError(f"job {job_id} is {job.state}; only {rule.only}")
        try:
            return store.set_job_state(job_id, target, by=by, note=note, expect=job.state)
        except StorageError:
            if store.get_job(job_id).state == job.state:
                raise
    raise SchedulerError(f"job {job_id} kept changing state; try again")


def _who(by: str) -> str:
    by = (by or "").strip()
    if not by:
        raise SchedulerError("every queue change needs a name for its history (--by)")
    return by


def hold(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Keep a queued job from starting until it is released."""
    return _change(store, job_id, "hold", by=by, note=note)


def release(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Let a held job start (this is also how a job submitted with --hold is approved)."""
    return _change(store, job_id, "release", by=by, note=note)


approve = release


def cancel(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Cancel a waiting job now; ask the daemon to stop a running one (state cancelling)."""
    return _change(store, job_id, "cancel", by=by, note=note)


def pause(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Ask the daemon to pause a running job at a safe point (state pausing)."""
    return _change(store, job_id, "pause", by=by, note=note)


def resume(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Ask the daemon to resume a paused (or interrupted) job (state resuming)."""
    return _change(store, job_id, "resume", by=by, note=note)


def confirm(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Daemon: the pause, resume or cancel asked for has been carried out."""
    return _change(store, job_id, "confirm", by=by, note=note)


def interrupt(store: Any, job_id: int, *, by: str, note: str = "") -> Any:
    """Daemon (on recovery): the job was running when its daemon stopped."""
    return _change(store, job_id, "interrupt", by=by, note=note)


def finish(store: Any, job_id: int, state: str, *, by: str, note: str = "") -> Any:
    """Daemon: the job's run ended completed, failed or cancelled."""
    if state not in FINISHED:
        raise SchedulerError(f"a job finishes {', '.join(FINISHED)}, not {state!r}")
    job = store.get_job(job_id)
    if job.state not in FINISH_FROM:
        raise SchedulerError(f"job {job_id} is {job.state}; only running jobs can finish")
    return store.set_job_state(job_id, state, by=_who(by), note=note, expect=list(FINISH_FROM))


def recover(store: Any, job_id: int, *, by: str, to: str = S.RUNNING, note: str = "") -> Any:
    """Daemon: continue an interrupted job (running) or give it back to the queue (queued)."""
    if to not in RECOVER_TO:
        raise SchedulerError(f"an interrupted job recovers to running or queued, not {to!r}")
    job = store.get_job(job_id)
    if job.state != S.INTERRUPTED:
        raise SchedulerError(f"job {job_id} is {job.state}; only interrupted jobs can recover")
    return store.set_job_state(job_id, to, by=_who(by), note=note, expect=S.INTERRUPTED)


# -- submission -----------------------------------------------------------------------------
def _load_protocol(protocol_path_or_text: str | Path) -> Any:
    from protocols import load, loads

    if isinstance(protocol_path_or_text, Path):
        return load(protocol_path_or_text)
    text = str(protocol_path_or_text)
    if "\n" in text or text.lstrip().startswith(("name:", "{")):
        return loads(text)
    return load(text)


def submit(
    store: Any,
    bench: Any,
    *,
    protocol_path_or_text: str | Path,
    cell_name: str | int,
    slot: str | None = None,
    priority: int = 0,
    by: str,
    overrides: dict[str, Any] | None = None,
    hold: bool = False,
    group: str | None = None,
) -> int:
    """Check a job against the bench and queue it (held if `hold`); returns the job id.

    A job that cannot run is refused with one sentence naming its protocol, the slot and
    why; nothing is written for a refused job.
    """
    by = _who(by)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise SchedulerError(f"a job's priority is a whole number, not {priority!r}")
    protocol = _load_protocol(protocol_path_or_text)
    cell = store.get_cell(cell_name)
    plan = bind(protocol, CellInfo.from_row(cell), overrides).plan
    est = estimate(plan)
    fits = fitting_slots(plan, bench, protocol.name, slot)
    protocol_id = store.add_protocol(protocol.name, protocol.source_text)
    params = JobParams(
        protocol_name=protocol.name,
        protocol_source=protocol.source,
        overrides=dict(overrides or {}),
        capacity_basis=plan.basis.description if plan.basis else None,
        estimate=EstimateRecord.of(est),
        fits=fits,
        group=group,
    )
    return store.add_job(
        protocol_id=protocol_id,
        cell_id=cell.id,
        slot=slot,
        priority=priority,
        submitted_by=by,
        state=JobState.HELD if hold else JobState.QUEUED,
        params=params.model_dump(mode="json"),
        bench=getattr(bench, "name", None),
    )


# -- claiming -------------------------------------------------------------------------------
def claim(store: Any, job_id: int, *, slot: str, bench_name: str, daemon_id: str) -> Any:
    """Claim a queued job for `slot`: atomic, so two daemons never get the same job (on
    PostgreSQL a row another daemon holds is skipped, FOR UPDATE SKIP LOCKED; on SQLite a
    guarded UPDATE decides). Returns the running job, or None if another daemon won."""
    return store.claim_job(
        job_id, slot=slot, by=daemon_id, note=f"claimed for slot {slot} of {bench_name}"
    )


def claim_jobs(
    store: Any, view: BenchView, *, bench_name: str, daemon_id: str
) -> tuple[list[tuple[Any, str]], dict[str, list[tuple[Any, str]]]]:
    """Claim what the claim policy starts now on `view`'s free slots.

    Returns the jobs claimed one by one, each with its slot, and the temperature groups
    that may start as a whole (not claimed yet: every member must be able to start). A
    job another daemon claimed first frees its slot for the next candidate at once.
    """
    candidates = store.list_jobs([JobState.QUEUED], bench=bench_name)
    claimed: list[tuple[Any, str]] = []
    tried: set[int] = set()
    while True:
        plan = plan_claims([j for j in candidates if j.id not in tried], view)
        lost = False
        for job, slot in plan.singles:
            tried.add(job.id)
            got = claim(store, job.id, slot=slot, bench_name=bench_name, daemon_id=daemon_id)
            if got is None:
                lost = True
                continue
            params = JobParams.of(got)
            claimed.append((got, slot))
            view = view.with_running(RunningJob(slot, params.group, params.changes_temperature))
        if not lost:
            return claimed, plan.groups


# -- alarms ---------------------------------------------------------------------------------
def active_alarms(store: Any, bench: str | None = None) -> list[Any]:
    """Latched alarms nobody has acknowledged yet, oldest first."""
    return store.active_alarms(bench)


def ack(store: Any, alarm: int | str, *, by: str, bench: str | None = None) -> list[Any]:
    """Acknowledge one alarm by id, or "all" active ones; returns those acknowledged now."""
    by = _who(by)
    if isinstance(alarm, str) and alarm.strip().lower() == "all":
        return store.ack_alarms(None, by=by, bench=bench)
    try:
        alarm_id = int(alarm)
    except (TypeError, ValueError):
        raise SchedulerError(f"an alarm is named by its number or 'all', not {alarm!r}") from None
    return store.ack_alarms([alarm_id], by=by)


# -- forecasts ------------------------------------------------------------------------------
@dataclass
class Forecast:
    """When a job is expected to start and end, on which slot (Unix seconds)."""

    slot: str | None
    start: float | None
    end: float | None
    remaining_s: float | None


def estimated_s(job: Any) -> float | None:
    """A job's typical duration from its submission estimate."""
    value = JobParams.of(job).estimate.typical_s
    return float(value) if value is not None else None


def _started_at(store: Any, job: Any) -> float:
    run = store.latest_run_for_job(job.id)
    if run is not None:
        return float(run.started_at)
    starts = [h.at for h in store.job_history(job.id) if h.to_state == S.RUNNING]
    return float(starts[0]) if starts else float(job.updated_at)


def forecast(
    store: Any, jobs: Iterable[Any] | None = None, *, now: float | None = None
) -> dict[int, Forecast]:
    """Estimated start and completion of every unfinished job.

    A running job ends after what remains of its estimate (the daemon's own figure when it
    reports one); a queued job starts when the jobs ahead of it on its slot are done, in
    claim order; an any-slot job takes the fitting slot that frees first. Held and
    interrupted jobs have no forecast until they are released or recovered.
    """
    now = time.time() if now is None else now
    jobs = list(store.list_jobs() if jobs is None else jobs)
    live = {(s.bench, s.slot): s for s in store.slot_states()}
    free_at: dict[tuple[str | None, str], float] = {}
    out: dict[int, Forecast] = {}
    for job in jobs:
        if job.state not in ACTIVE or job.slot is None:
            continue
        key = (job.bench, job.slot)
        est = estimated_s(job)
        state = live.get(key) if job.bench is not None else None
        remaining: float | None = None
        if state is not None and state.job_id == job.id:
            if state.remaining_s is not None:
                remaining = max(0.0, state.remaining_s - max(0.0, now - state.updated_at))
            elif state.progress is not None and est is not None:
                remaining = est * max(0.0, 1.0 - state.progress)
        if remaining is None and est is not None:
            remaining = max(0.0, est - (now - _started_at(store, job)))
        end = None if remaining is None else now + remaining
        out[job.id] = Forecast(job.slot, None, end, remaining)
        free_at[key] = max(free_at.get(key, now), end if end is not None else math.inf)
    queued = sorted((j for j in jobs if j.state == S.QUEUED), key=lambda j: (-j.priority, j.id))
    for job in queued:
        est = estimated_s(job)
        if job.slot is not None:
            key = (job.bench, job.slot)
        else:
            fits = JobParams.of(job).fits or []
            if not fits:
                out[job.id] = Forecast(None, None, None, est)
                continue
            key = min(((job.bench, s) for s in fits), key=lambda k: free_at.get(k, now))
        start = free_at.get(key, now)
        end = start + est if est is not None and math.isfinite(start) else None
        out[job.id] = Forecast(key[1], start if math.isfinite(start) else None, end, est)
        free_at[key] = end if end is not None else math.inf
    return out


def job_summary(job: Any) -> dict[str, Any]:
    """A job as plain data (for --json and tables)."""
    return dataclasses.asdict(_JobView.of(job))


@dataclass
class _JobView:
    id: int
    state: str
    priority: int
    bench: str | None
    slot: str | None
    protocol: str | None
    protocol_id: int | None
    cell_id: int | None
    submitted_by: str
    submitted_at: float
    updated_at: float
    claimed_by: str | None
    message: str
    estimated_s: float | None

    @classmethod
    def of(cls, job: Any) -> _JobView:
        """The job row's columns of the same names, its protocol's name and its estimate."""
        derived = ("protocol", "estimated_s")
        return cls(
            **{
                f.name: getattr(job, f.name)
                for f in dataclasses.fields(cls)
                if f.name not in derived
            },
            protocol=JobParams.of(job).protocol_name or None,
            estimated_s=estimated_s(job),
        )
