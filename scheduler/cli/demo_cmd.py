"""`cellbench demo`: a simulated bench running a gao2025-style protocol end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
    output: Path = typer.Option(Path("cellbench-demo"), help="Folder for the plot."),
    time_scale: float = typer.Option(
        50000.0, help="Simulated seconds per wall second (inf = as fast as possible)."
    ),
    db: str | None = typer.Option(
        None, envvar="CELLBENCH_DB", help="Database URL (default: SQLite in the user data dir)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run a gao2025-style protocol (3.0–4.3 V, 0.1C then 1C) on a simulated NCM811 cell.

    The real EmStat4 driver talks MethodSCRIPT over TCP to the EmStat4 simulator; every sample
    is stored, and a per-cycle table and a voltage-capacity plot are produced."""
    from scheduler.demo import run_demo
    from scheduler.runner import RunState
    from storage import open_store

    if not time_scale > 0:
        raise SchedulerError("--time-scale must be positive")
    store = open_store(db)
    progress_bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
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

    with progress_bar:
        outcome = asyncio.run(
            run_demo(store, output_dir=output, time_scale=time_scale, progress=on_progress)
        )
    rows = [c.as_dict() for c in outcome.cycles]
    data = {
        "run_id": outcome.run_id,
        "status": outcome.result.status,
        "message": outcome.result.message,
        "cell": outcome.cell.name,
        "protocol": outcome.protocol_name,
        "simulated_hours": outcome.result.state.test_time_s / 3600,
        "cycles": rows,
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
