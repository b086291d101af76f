"""`cellbench queue submit|list|hold|release|cancel|pause|resume`: the shared job queue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from scheduler.cli import app
from scheduler.cli.options import (
    BENCH_DB_OPTION,
    BY_OPTION,
    DB_OPTION,
    JSON_OPTION,
    default_user,
    local_time,
    open_db,
    short_time,
)
from scheduler.cli.output import console, emit

queue_app = typer.Typer(
    name="queue",
    help="The job queue: submit, list, hold, release, cancel, pause, resume.",
    no_args_is_help=True,
)
app.add_typer(queue_app, name="queue")


def duration(seconds: float | None) -> str:
    from protocols.units import format_duration

    return "-" if seconds is None else format_duration(seconds)


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    from scheduler.cli.protocol_cmd import _overrides as parse

    return parse(pairs)


@queue_app.command("submit")
def submit(
    protocol: Path = typer.Argument(..., help="Protocol file (YAML)."),
    cell: str = typer.Option(..., "--cell", help="Cell name (see `cellbench cell list`)."),
    bench_file: Path = typer.Option(
        ..., "--bench", envvar="CELLBENCH_BENCH", help="Bench file (TOML) the job runs on."
    ),
    slot: str | None = typer.Option(None, "--slot", help="Slot; default: any slot that fits."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first; FIFO within."),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a protocol parameter: NAME=VALUE (repeatable)."
    ),
    hold_: bool = typer.Option(False, "--hold", help="Submit held: it waits for `release`."),
    group: str | None = typer.Option(
        None,
        "--group",
        help="Share the chamber's temperature schedule with the other jobs of this group.",
    ),
    by: str | None = BY_OPTION,
    db: str | None = BENCH_DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a job against the bench and queue it; a job that cannot run is refused."""
    from scheduler import queue
    from scheduler.bench import Bench
    from scheduler.jobs import JobParams

    bench = Bench.load(bench_file)
    overrides = _overrides(set_)
    with open_db(db, bench) as store:
        job_id = queue.submit(
            store,
            bench,
            protocol_path_or_text=protocol,
            cell_name=cell,
            slot=slot,
            priority=priority,
            by=by or default_user(),
            overrides=overrides,
            hold=hold_,
            group=group,
        )
        job = store.get_job(job_id)
        now = time.time()
        fc = queue.forecast(store, now=now).get(job_id)
    data = {
        **queue.job_summary(job),
        "cell": cell,
        "fits": JobParams.of(job).fits,
        "capacity_basis": JobParams.of(job).capacity_basis,
        "estimated_start": local_time(fc.start) if fc else None,
        "estimated_completion": local_time(fc.end) if fc else None,
    }

    def render(d: dict[str, Any]) -> None:
        where = f"slot {d['slot']}" if d["slot"] else f"any of {', '.join(d['fits'] or [])}"
        console.print(
            f"job [bold]{d['id']}[/] {d['state']}: {d['protocol']} on cell {d['cell']}, {where}, "
            f"priority {d['priority']}, about {duration(d['estimated_s'])}"
        )
        if fc is not None and d["estimated_completion"]:
            console.print(f"  estimated completion {short_time(fc.end, now)}")

    emit(data, as_json, render)


@queue_app.command("list")
def list_jobs(
    all_: bool = typer.Option(False, "--all", help="Also finished jobs."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The queue in run order, with estimated start and completion in the local zone."""
    from scheduler import queue
    from scheduler.jobs import ACTIVE, FINISHED, WAITING

    now = time.time()
    with open_db(db) as store:
        states = None if all_ else [*WAITING, *ACTIVE]
        jobs = store.list_jobs(states)
        cells = {c.id: c.name for c in store.list_cells()}
        forecasts = queue.forecast(store, [j for j in jobs if j.state not in FINISHED], now=now)
    rows = []
    for job in _run_order(jobs, queue):
        fc = forecasts.get(job.id)
        rows.append(
            {
                **queue.job_summary(job),
                "cell": cells.get(job.cell_id),
                "submitted": local_time(job.submitted_at),
                "planned_slot": fc.slot if fc else job.slot,
                "estimated_start": local_time(fc.start) if fc else None,
                "estimated_completion": local_time(fc.end) if fc else None,
                "estimated_start_unix": fc.start if fc else None,
                "estimated_completion_unix": fc.end if fc else None,
                "remaining_s": fc.remaining_s if fc else None,
            }
        )

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            console.print("The queue is empty.")
            return
        table = Table(
            "job", "state", "pri", "slot", "protocol", "cell", "by", "duration", "start", "done by"
        )
        for r in data:
            slot = r["slot"] or (f"any→{r['planned_slot']}" if r["planned_slot"] else "any")
            table.add_row(
                str(r["id"]),
                r["state"],
                str(r["priority"]),
                slot,
                r["protocol"] or "-",
                r["cell"] or "-",
                r["submitted_by"],
                duration(r["remaining_s"] if r["remaining_s"] is not None else r["estimated_s"]),
                short_time(r["estimated_start_unix"], now)
                if r["state"] == "queued"
                else ("now" if r["state"] in ACTIVE else "-"),
                short_time(r["estimated_completion_unix"], now),
            )
        console.print(table)

    emit(rows, as_json, render)


def _run_order(jobs: list[Any], queue: Any) -> list[Any]:
    """Active jobs first, then waiting ones in claim order, then finished ones newest first."""
    from scheduler.jobs import ACTIVE, FINISHED

    rank = {s: 0 for s in ACTIVE} | {"queued": 1, "held": 2, "interrupted": 0}
    live = [j for j in jobs if j.state not in FINISHED]
    done = [j for j in jobs if j.state in FINISHED]
    live.sort(key=lambda j: (rank.get(j.state, 3), -j.priority, j.id))
    done.sort(key=lambda j: -j.updated_at)
    return live + done


def _change(
    action: str, job_id: int, by: str | None, note: str, db: str | None, as_json: bool
) -> None:
    from scheduler import queue

    with open_db(db) as store:
        before = store.get_job(job_id).state
        job = getattr(queue, action)(store, job_id, by=by or default_user(), note=note)
    data = {**queue.job_summary(job), "was": before}

    def render(d: dict[str, Any]) -> None:
        if d["was"] == d["state"]:
            console.print(f"job {d['id']} is already {d['state']}")
        else:
            console.print(f"job {d['id']}: {d['was']} → [bold]{d['state']}[/]")

    emit(data, as_json, render)


JOB_ARG = typer.Argument(..., metavar="JOB", help="Job number (see `cellbench queue list`).")
NOTE_OPTION = typer.Option("", "--note", help="Why (kept in the job's history).")


def _change_command(action: str, doc: str, *, name: str = "", hidden: bool = False) -> None:
    """Register `queue NAME JOB`: one state change of a job, with who and why."""

    def command(
        job: int = JOB_ARG,
        note: str = NOTE_OPTION,
        by: str | None = BY_OPTION,
        db: str | None = DB_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        _change(action, job, by, note, db, as_json)

    command.__doc__ = doc
    queue_app.command(name or action, hidden=hidden)(command)


_change_command("hold", "Keep a queued job from starting.")
_change_command("release", "Release (approve) a held job so that it can start.")
_change_command("release", "Same as release: approve a held job.", name="approve", hidden=True)
_change_command(
    "cancel", "Cancel a waiting job; a running one is stopped by its daemon (cancelling)."
)
_change_command("pause", "Ask the daemon to pause a running job (pausing, then paused).")
_change_command(
    "resume", "Ask the daemon to resume a paused or interrupted job (resuming, then running)."
)


@queue_app.command("history")
def history(job: int = JOB_ARG, db: str | None = DB_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every state change of a job: from, to, who and when."""
    with open_db(db) as store:
        store.get_job(job)
        rows = [
            {
                "from": h.from_state,
                "to": h.to_state,
                "by": h.by,
                "at": local_time(h.at),
                "note": h.note,
            }
            for h in store.job_history(job)
        ]

    def render(data: list[dict[str, Any]]) -> None:
        table = Table("at", "from", "to", "by", "note")
        for r in data:
            table.add_row(r["at"], r["from"] or "-", r["to"], r["by"], r["note"])
        console.print(table)

    emit(rows, as_json, render)
