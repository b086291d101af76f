"""`cellbench status`: one live row per slot (job, step, cycle, V/I, progress, ETA) and alarms."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from scheduler.cli import app
from scheduler.cli.options import BENCH_DB_OPTION, JSON_OPTION, local_time, open_db, short_time
from scheduler.cli.output import console, emit
from scheduler.jsonable import jsonable


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def slot_status(
    store: Any,
    *,
    bench: str | None = None,
    bench_slots: list[str] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Every known slot's live state, merged from the daemon's slot state, the job's run,
    its journaled steps and its newest sample; plus the active alarms."""
    from scheduler import queue
    from scheduler.jobs import ACTIVE

    now = time.time() if now is None else now
    states = {(s.bench, s.slot): s for s in store.slot_states(bench)}
    jobs = store.list_jobs(list(ACTIVE), bench=bench)
    forecasts = queue.forecast(store, jobs, now=now)
    cells = {c.id: c.name for c in store.list_cells()}
    by_slot = {(job.bench, job.slot): job for job in jobs if job.slot is not None}
    keys = list(dict.fromkeys([*states, *by_slot, *((bench, n) for n in bench_slots or [])]))
    alarms = queue.active_alarms(store, bench)
    rows = []
    for key in sorted(keys, key=lambda k: (k[0] or "", k[1])):
        live, job = states.get(key), by_slot.get(key)
        row = _blank_row(key, live, job, cells)
        row["alarms"] = sum(1 for a in alarms if a.slot == key[1] and a.bench in (None, key[0]))
        if job is not None:
            _add_run_values(store, row, job, forecasts.get(job.id), queue.estimated_s(job))
        if live is not None and (job is None or live.job_id in (None, getattr(job, "id", None))):
            _add_live_values(row, live)
        rows.append(row)
    return {
        "slots": rows,
        "alarms": [alarm_row(a) for a in alarms],
        "at": local_time(now),
    }


def alarm_row(alarm: Any) -> dict[str, Any]:
    """One latched alarm as the status table and `ack` show it."""
    return {
        "id": alarm.id,
        "at": local_time(alarm.at),
        "kind": alarm.kind,
        "bench": alarm.bench,
        "slot": alarm.slot,
        "run": alarm.run_id,
        "message": alarm.message,
    }


def _blank_row(
    key: tuple[str | None, str], live: Any, job: Any, cells: dict[int, str]
) -> dict[str, Any]:
    from scheduler.jobs import JobParams

    return {
        "bench": key[0],
        "slot": key[1],
        "state": job.state if job else (live.state if live else "idle"),
        "job": job.id if job else None,
        "protocol": JobParams.of(job).protocol_name if job else None,
        "cell": cells.get(job.cell_id) if job else None,
        "run": None,
        "step": None,
        "step_index": None,
        "cycle": None,
        "voltage_V": None,
        "current_A": None,
        "temperature_degC": None,
        "pressure_Pa": None,
        "progress": None,
        "eta": None,
        "updated": local_time(live.updated_at) if live else None,
        "message": live.message if live else "",
    }


def _add_run_values(
    store: Any, row: dict[str, Any], job: Any, forecast: Any, estimate_s: float | None
) -> None:
    """The job's run, its last journaled step and newest sample, and its ETA."""
    run = store.latest_run_for_job(job.id)
    if run is not None:
        row["run"] = run.id
        steps = store.steps(run.id)
        if steps:
            last = steps[-1]
            row["step"], row["step_index"], row["cycle"] = (
                last.label or last.kind,
                last.step_index,
                last.cycle,
            )
        sample = store.last_sample(run.id)
        if sample:
            for field in ("voltage_V", "current_A", "temperature_degC", "pressure_Pa"):
                row[field] = _num(sample.get(field))
            if row["cycle"] is None:
                row["cycle"] = sample.get("cycle")
    if forecast is not None and forecast.end is not None:
        row["eta"] = local_time(forecast.end)
        row["eta_unix"] = forecast.end
        if estimate_s and forecast.remaining_s is not None:
            row["progress"] = min(1.0, max(0.0, 1.0 - forecast.remaining_s / estimate_s))


def _add_live_values(row: dict[str, Any], live: Any) -> None:
    """What the daemon last wrote for the slot wins over what was read from the run."""
    if live.step_label:
        row["step"] = live.step_label
    if live.step_index is not None:
        row["step_index"] = live.step_index
    for field in ("cycle", "voltage_V", "current_A", "temperature_degC", "pressure_Pa"):
        value = getattr(live, field)
        if value is not None:
            row[field] = value
    if live.progress is not None:
        row["progress"] = min(1.0, max(0.0, float(live.progress)))


def _fmt(value: float | None, unit: str, digits: int = 4) -> str:
    if value is None:
        return "-"
    from protocols.units import format_si

    return format_si(value, unit) if unit == "A" else f"{value:.{digits}g} {unit}"


def render_status(data: dict[str, Any]) -> Group:
    """The status as rich renderables: the slot table, then the active alarms."""
    now = time.time()
    table = Table(title=f"slots at {data['at']}", title_justify="left")
    for column in (
        "slot",
        "state",
        "job",
        "protocol",
        "cell",
        "step",
        "cycle",
        "V",
        "I",
        "T / P",
        "progress",
        "done by",
    ):
        table.add_column(column)
    for r in data["slots"]:
        env = " ".join(
            x
            for x in (
                None if r["temperature_degC"] is None else f"{r['temperature_degC']:.1f} °C",
                None if r["pressure_Pa"] is None else f"{r['pressure_Pa'] / 1e6:.3g} MPa",
            )
            if x
        )
        progress: Any = "-"
        if r["progress"] is not None:
            progress = Table.grid(padding=(0, 1))
            progress.add_row(
                ProgressBar(total=1.0, completed=r["progress"], width=12),
                Text(f"{r['progress'] * 100:.0f} %"),
            )
        state = r["state"] + (f" [red]⚠ {r['alarms']}[/]" if r["alarms"] else "")
        table.add_row(
            r["slot"] if not r["bench"] else f"{r['bench']}/{r['slot']}",
            state,
            "-" if r["job"] is None else str(r["job"]),
            r["protocol"] or "-",
            r["cell"] or "-",
            "-" if r["step"] is None else f"{r['step_index']}: {r['step']}",
            "-" if r["cycle"] is None else str(r["cycle"]),
            _fmt(r["voltage_V"], "V"),
            _fmt(r["current_A"], "A"),
            env or "-",
            progress,
            short_time(r.get("eta_unix"), now),
        )
    parts: list[Any] = [table]
    if not data["slots"]:
        parts = [Text("No slot has reported yet and no job is running.")]
    for a in data["alarms"]:
        where = "/".join(x for x in (a["bench"], a["slot"]) if x) or "-"
        parts.append(
            Text.from_markup(
                f"[bold red]alarm {a['id']}[/] {a['at']} {where} {a['kind']}: {a['message']} "
                f"(acknowledge: cellbench ack {a['id']})"
            )
        )
    return Group(*parts)


@app.command("status")
def status(
    bench: str | None = typer.Option(None, "--bench", help="Only this bench (a name or file)."),
    watch: bool = typer.Option(False, "--watch", help="Refresh live until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between refreshes."),
    db: str | None = BENCH_DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The live slot table: job, protocol, step, cycle, V/I, progress and ETA; active alarms."""
    bench_name, slots = bench, None
    if bench is not None and (bench.endswith(".toml") or Path(bench).is_file()):
        from scheduler.bench import Bench

        loaded = Bench.load(bench)
        bench_name, slots = loaded.name, [s.name for s in loaded.slots]
        if db is None and loaded.database is not None:
            db = loaded.database.url
    with open_db(db) as store:
        if not watch:
            data = slot_status(store, bench=bench_name, bench_slots=slots)
            emit(data, as_json, lambda d: console.print(render_status(d)))
            return
        try:
            if as_json:  # one JSON document per line per refresh, for scripts that follow
                while True:
                    data = slot_status(store, bench=bench_name, bench_slots=slots)
                    sys.stdout.write(json.dumps(jsonable(data)) + "\n")
                    sys.stdout.flush()
                    time.sleep(interval)
            from rich.live import Live

            with Live(console=console, auto_refresh=False) as live:
                while True:
                    data = slot_status(store, bench=bench_name, bench_slots=slots)
                    live.update(render_status(data), refresh=True)
                    time.sleep(interval)
        except KeyboardInterrupt:
            return
