"""`cellbench runs list|show|export`: browse stored runs and export them as BDF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from scheduler.cli import app
from scheduler.cli.options import DB_OPTION, JSON_OPTION, local_time, open_db
from scheduler.cli.output import console, emit
from storage.columns import EXPORT_FORMATS as FORMATS
from storage.errors import StorageError

runs_app = typer.Typer(name="runs", help="Stored runs: list, show, export.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


def _duration(start: float, end: float | None) -> str:
    seconds = int((end or dt.datetime.now().timestamp()) - start)
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _summary(store: Any, run: Any, cells: dict[int, str]) -> dict[str, Any]:
    return {
        "id": run.id,
        "cell": cells.get(run.cell_id) if run.cell_id is not None else None,
        "slot": run.slot,
        "bench": run.bench,
        "status": run.status,
        "started": local_time(run.started_at),
        "ended": local_time(run.ended_at),
        "duration": _duration(run.started_at, run.ended_at),
        "samples": store.sample_count(run.id),
        "source": run.source,
    }


@runs_app.command("list")
def list_runs(
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the newest N runs."),
) -> None:
    """List stored runs, oldest first."""
    with open_db(db) as store:
        cells = {c.id: c.name for c in store.list_cells()}
        rows = [_summary(store, r, cells) for r in store.list_runs(status=status, limit=limit)]

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            console.print("No runs stored yet.")
            return
        table = Table("run", "cell", "slot", "status", "started", "duration", "samples")
        for r in data:
            table.add_row(
                str(r["id"]),
                r["cell"] or "-",
                r["slot"],
                r["status"],
                r["started"],
                r["duration"],
                f"{r['samples']:,}",
            )
        console.print(table)

    emit(rows, as_json, render)


def _steps(store: Any, run_id: int) -> list[dict[str, Any]]:
    return [
        {
            "step_count": s.step_count,
            "step_index": s.step_index,
            "cycle": s.cycle,
            "kind": s.kind,
            "label": s.label,
            "duration_s": None if s.ended_at_s is None else s.ended_at_s - s.started_at_s,
            "end_reason": s.end_reason,
            "charge_Ah": s.charge_Ah,
            "discharge_Ah": s.discharge_Ah,
        }
        for s in store.steps(run_id)
    ]


def _run_detail(store: Any, run_id: int) -> dict[str, Any]:
    """One run as plain data: provenance, steps, events and analyses."""
    run = store.get_run(run_id)
    cell = store.get_cell(run.cell_id) if run.cell_id is not None else None
    protocol = store.get_protocol(run.protocol_id) if run.protocol_id is not None else None
    data = _summary(store, run, {cell.id: cell.name} if cell else {})
    data.update(
        {
            "message": run.message,
            "host": run.host,
            "software_version": run.software_version,
            "capacity_basis": run.capacity_basis,
            "cell_detail": cell.model_dump() if cell else None,
            "protocol": {"id": protocol.id, "name": protocol.name, "sha256": protocol.sha256}
            if protocol
            else None,
            "instruments": run.instruments or [],
            "metadata": run.meta,
            "steps": _steps(store, run_id),
            "spectra": len(store.spectra(run_id)),
            "events": [
                {
                    "at": local_time(e.at),
                    "kind": e.kind,
                    "severity": e.severity,
                    "message": e.message,
                }
                for e in store.events(run_id)
            ],
            "analyses": [a.kind for a in store.analyses(run_id)],
        }
    )
    return data


def _render_run(d: dict[str, Any]) -> None:
    console.print(f"[bold]Run {d['id']}[/bold]  {d['status']}  {d['message']}".rstrip())
    proto = d["protocol"]
    for label, value in [
        ("cell", d["cell"]),
        ("slot", f"{d['slot']} on bench {d['bench'] or '-'} ({d['host'] or '-'})"),
        ("protocol", f"{proto['name']} sha256 {proto['sha256'][:12]}" if proto else None),
        ("capacity basis", d["capacity_basis"] or None),
        ("software", d["software_version"] or None),
        ("started", d["started"]),
        ("ended", d["ended"]),
        ("samples", f"{d['samples']:,}"),
        ("spectra", d["spectra"]),
    ]:
        console.print(f"  {label:15} {value if value is not None else '-'}")
    for inst in d["instruments"]:
        who = " ".join(str(inst.get(k, "")) for k in ("name", "vendor", "model"))
        console.print(
            f"  {'instrument':15} {who} s/n {inst.get('serial', '-')} "
            f"fw {inst.get('firmware', '-')}"
        )
    if d["steps"]:
        table = Table("#", "step", "cycle", "kind", "label", "duration / s", "ended by")
        for s in d["steps"]:
            dur = s["duration_s"]
            table.add_row(
                str(s["step_count"]),
                str(s["step_index"]),
                str(s["cycle"]),
                s["kind"],
                s["label"],
                "-" if dur is None else f"{dur:.1f}",
                s["end_reason"] or "running",
            )
        console.print(table)
    for e in d["events"]:
        console.print(f"  {e['at']} [{e['severity']}] {e['kind']}: {e['message']}")


@runs_app.command("show")
def show_run(
    run_id: int = typer.Argument(..., metavar="RUN", help="Run id."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one run: provenance, steps and events."""
    with open_db(db) as store:
        data = _run_detail(store, run_id)
    emit(data, as_json, _render_run)


@runs_app.command("export")
def export(
    run_id: int = typer.Argument(..., metavar="RUN", help="Run id."),
    fmt: str = typer.Option("bdf-csv", "--format", help=f"One of: {', '.join(FORMATS)}."),
    output: Path = typer.Option(..., "--output", "-o", help="Data file, or a folder for it."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a run as BDF (CSV or Parquet) plus a metadata JSON."""
    if fmt not in FORMATS:
        raise StorageError(f"Export format {fmt!r} is not one of {', '.join(FORMATS)}.")
    with open_db(db) as store:
        from storage import export_run

        paths = export_run(store, run_id, fmt, output)
    data = {"run": run_id, "format": fmt, "files": [str(p) for p in paths]}

    def render(d: dict[str, Any]) -> None:
        for path in d["files"]:
            console.print(f"wrote {path}")

    emit(data, as_json, render)
