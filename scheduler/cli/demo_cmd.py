"""`cellbench demo`: a simulated bench running a gao2025-style protocol end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from scheduler.cli import app
from scheduler.cli.output import console, emit, err_console
from scheduler.errors import SchedulerError


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


@app.command()
def demo(
    output: Path = typer.Option(Path("cellbench-demo"), help="Folder for the plots."),
    time_scale: float = typer.Option(
        50000.0,
        help=(
            "Simulated seconds per wall second (inf = as fast as possible). With --paper it "
            "paces the runs that need a chamber or press; the others run as fast as possible."
        ),
    ),
    db: str | None = typer.Option(
        None, envvar="CELLBENCH_DB", help="Database URL (default: SQLite in the user data dir)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    paper: str | None = typer.Option(
        None,
        "--paper",
        help="Reproduce a paper's reported numbers instead: gao2025, kim2025 or ye2025.",
    ),
    procedure: list[str] = typer.Option(
        [],
        "--procedure",
        help="With --paper: run only this procedure (repeatable); --list-procedures names them.",
    ),
    list_procedures: bool = typer.Option(
        False, "--list-procedures", help="With --paper: list its procedures and stop."
    ),
) -> None:
    """Run a gao2025-style protocol (3.0–4.3 V, 0.1C then 1C) on a simulated NCM811 cell.

    The real EmStat4 driver talks MethodSCRIPT over TCP to the EmStat4 simulator; every sample
    is stored, and a per-cycle table and a voltage-capacity plot are produced. With --paper,
    the paper's library procedures run on its presets (chamber and press simulated where a
    procedure needs them) and a table compares each reported number with the measured one."""
    if not time_scale > 0:
        raise SchedulerError("--time-scale must be positive")
    if (procedure or list_procedures) and paper is None:
        raise SchedulerError("--procedure and --list-procedures need --paper")
    if paper is None:
        plain_demo(output=output, db=db, as_json=as_json, time_scale=time_scale)
    elif list_procedures:
        list_paper_procedures(paper, as_json=as_json)
    else:
        paper_demo(
            paper,
            output=output,
            db=db,
            as_json=as_json,
            time_scale=time_scale,
            only=procedure or None,
        )


def _progress_bar(hidden: bool) -> tuple[Progress, Any]:
    """A live line of the run's cycle, step, voltage and simulated time, and its callback."""
    from scheduler.run_state import RunState

    progress_bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=hidden,
    )
    task = progress_bar.add_task("starting the simulated bench", total=None)

    def on_progress(event: str, state: RunState) -> None:
        step = state.step
        what = (step.label or step.kind) if step else ""
        progress_bar.update(
            task,
            description=(
                f"cycle {state.cycle} · step {state.step_count} {what} · "
                f"{state.voltage_V:.3f} V · {state.test_time_s / 3600:.1f} h simulated"
            ),
        )

    return progress_bar, on_progress


def plain_demo(*, output: Path, db: str | None, as_json: bool, time_scale: float) -> None:
    """The gao2025-style demo run, its per-cycle table and its plot."""
    from scheduler.sim.demo import run_demo
    from storage import open_store

    store = open_store(db)
    progress_bar, on_progress = _progress_bar(as_json)
    with progress_bar:
        outcome = asyncio.run(
            run_demo(store, output_dir=output, time_scale=time_scale, progress=on_progress)
        )
    data = {
        "run_id": outcome.run_id,
        "status": outcome.result.status,
        "message": outcome.result.message,
        "cell": outcome.cell.name,
        "protocol": outcome.protocol_name,
        "simulated_hours": outcome.result.state.test_time_s / 3600,
        "cycles": [c.as_dict() for c in outcome.cycles],
        "plot": str(outcome.plot),
    }

    def render(_: object) -> None:
        table = Table(title=f"Run {outcome.run_id}: {outcome.protocol_name} on {outcome.cell.name}")
        for heading in ("cycle", "charge / mAh g⁻¹", "discharge / mAh g⁻¹", "CE / %"):
            table.add_column(heading, justify="right")
        for c in outcome.cycles:
            ce = None if c.coulombic_efficiency is None else 100 * c.coulombic_efficiency
            table.add_row(
                str(c.cycle), _fmt(c.charge_mAh_g), _fmt(c.discharge_mAh_g), _fmt(ce, ".2f")
            )
        console.print(table)
        console.print(
            f"status: {outcome.result.status}; {data['simulated_hours']:.1f} h simulated; "
            f"plot: {outcome.plot}"
        )

    emit(data, as_json, render)
    if outcome.result.status != "completed":
        raise SchedulerError(
            f"the demo run ended with {outcome.result.status}: {outcome.result.message}"
        )


def _check_paper(paper: str) -> None:
    from scheduler.sim.papers import PAPERS

    if paper not in PAPERS:
        raise SchedulerError(f"--paper must be one of {', '.join(PAPERS)}, not {paper!r}")


def list_paper_procedures(paper: str, *, as_json: bool) -> None:
    """`cellbench demo --paper P --list-procedures`: keys, titles, presets, numbers."""
    from scheduler.sim.papers import procedures

    _check_paper(paper)
    data: list[dict[str, Any]] = [
        {
            "procedure": p.key,
            "title": p.title,
            "protocol": p.library,
            "preset": p.preset,
            "quantities": [e.quantity for e in p.expectations],
        }
        for p in procedures(paper)
    ]

    def render(_: object) -> None:
        table = Table(title=f"{paper}: procedures")
        for heading in ("procedure", "what", "protocol", "preset", "numbers"):
            table.add_column(heading, no_wrap=heading != "what")
        for row in data:
            table.add_row(
                row["procedure"],
                row["title"],
                row["protocol"],
                row["preset"],
                str(len(row["quantities"])),
            )
        console.print(table)

    emit(data, as_json, render)


def paper_demo(
    paper: str,
    *,
    output: Path,
    db: str | None,
    as_json: bool,
    time_scale: float,
    only: list[str] | None = None,
) -> None:
    """`cellbench demo --paper P`: the paper's procedures, then reported vs measured."""
    from scheduler.sim.papers import procedures, run_paper
    from storage import open_store

    _check_paper(paper)
    known = [p.key for p in procedures(paper)]
    unknown = [key for key in only or [] if key not in known]
    if unknown:
        raise SchedulerError(
            f"--procedure {unknown[0]!r} is not a {paper} procedure; choose from {', '.join(known)}"
        )
    store = open_store(db)
    progress_bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    )
    task = progress_bar.add_task(f"{paper}: starting", total=None)
    with progress_bar:
        result = asyncio.run(
            run_paper(
                store,
                paper,
                output_dir=output,
                time_scale=time_scale,
                only=only,
                progress=lambda title: progress_bar.update(task, description=f"{paper}: {title}"),
            )
        )
    rows = result.rows

    def render(_: object) -> None:
        table = Table(title=f"{paper}: reported in the paper vs measured here (simulated)")
        for heading in ("quantity", "reported in the paper", "measured here", "within tolerance"):
            table.add_column(heading, justify="left" if heading == "quantity" else "right")
        for row in rows:
            measured = row["measured"]
            table.add_row(
                row["quantity"],
                f"{row['reported']:.4g} {row['unit']}",
                "—" if measured is None else f"{measured:.4g} {row['unit']}",
                ("[green]yes[/green]" if row["within"] else "[red]no[/red]")
                + f" ({row['tolerance']})",
            )
        console.print(table)
        for run in result.runs:
            console.print(
                f"run {run.run_id} {run.procedure.key}: {run.status} "
                f"({run.procedure.library} on {run.procedure.preset})",
                markup=False,
            )
        if result.not_reproduced:
            console.print("Reported but not reproduced here:")
            for item in result.not_reproduced:
                console.print(f"  - {item['quantity']}: {item['why']}", markup=False)
        for path in result.plots:
            console.print(f"plot: {path}", markup=False)

    emit(rows, as_json, render)
    failed = [run for run in result.runs if run.status != "completed"]
    if failed:
        raise SchedulerError(
            f"run {failed[0].run_id} ({failed[0].procedure.key}) ended with "
            f"{failed[0].status}: {failed[0].message}"
        )
