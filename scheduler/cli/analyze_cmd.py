"""`cellbench analyze RUN`: the analyses of a stored run, as tables, plots and stored results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from scheduler.cli import app
from scheduler.cli.output import console, emit
from scheduler.errors import SchedulerError


def _num(value: Any, spec: str = ".4g") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def render_report(report: Any, title: str = "") -> None:
    """Rich tables of a dispatch Report's headline numbers (shared with `sim run`)."""
    if title:
        console.print(f"[bold]{title}[/bold]")
    for kind, outcome in report.outcomes.items():
        if not outcome.ok:
            console.print(Text.assemble((kind, "yellow"), f": skipped — {outcome.skipped}"))
            continue
        if kind == "cycle_summary":
            _cycle_table(outcome)
        elif kind == "rate_capability":
            table = Table(title="Rate capability")
            for heading in ("rate", f"discharge / {outcome.result.unit}", "sd", "normalised"):
                table.add_column(heading, justify="right")
            for row in outcome.result.rows:
                table.add_row(
                    f"{row.c_rate:g}C",
                    f"{row.mean:.1f}",
                    f"{row.sd:.1f}",
                    f"{100 * row.normalised:.1f} %",
                )
            console.print(table)
        elif kind == "gitt":
            _gitt_table(outcome)
        elif kind == "eis_fit":
            table = Table(title=f"EIS fits ({outcome.summary['circuit']})")
            headings = ("spectrum", "T / °C", "Rs / Ω", "Rct / Ω", "± / Ω", "KK max res.", "KK")
            for heading in headings:
                table.add_column(heading, justify="right")
            for row in outcome.summary["spectra"]:
                table.add_row(
                    str(row["spectrum"]),
                    _num(row["temperature_degC"], ".1f"),
                    _num(row["Rs_ohm"], ".3g"),
                    _num(row["Rct_ohm"], ".4g"),
                    _num(row["Rct_sigma_ohm"], ".2g"),
                    f"{100 * row['kk_max_residual']:.2f} %",
                    "passes" if row["kk_accepted"] else "; ".join(row.get("kk_reasons", ())),
                )
            console.print(table)
        else:
            table = Table(title=kind.replace("_", " "))
            table.add_column("quantity")
            table.add_column("value", justify="right")
            for key, value in outcome.summary.items():
                if isinstance(value, list | dict):
                    continue
                table.add_row(key, _num(value))
            console.print(table)
        for note in outcome.notes:
            console.print(f"  {note}", markup=False, style="dim")


def _cycle_table(outcome: Any) -> None:
    unit = outcome.summary["unit"]
    rows = outcome.result
    table = Table(title="Cycle summary")
    for heading in ("cycle", f"charge / {unit}", f"discharge / {unit}", "CE / %", "retention / %"):
        table.add_column(heading, justify="right")
    shown = rows if len(rows) <= 25 else [*rows[:10], None, *rows[-10:]]
    for row in shown:
        if row is None:
            table.add_row("…", "", "", "", "")
            continue
        g = unit == "mAh/g"
        ce = row.coulombic_efficiency
        table.add_row(
            str(row.cycle),
            f"{(row.charge_mAh_g if g else row.charge_mAh):.2f}",
            f"{(row.discharge_mAh_g if g else row.discharge_mAh):.2f}",
            "—" if ce is None else f"{100 * ce:.2f}",
            "—" if row.retention is None else f"{100 * row.retention:.1f}",
        )
    console.print(table)


def _gitt_table(outcome: Any) -> None:
    result = outcome.result
    table = Table(title=f"GITT (L = {result.diffusion_length_cm * 1e4:.3g} µm)")
    headings = ("pulse", "SOC", "τ / s", "ΔEs / mV", "ΔEt / mV", "D W–H", "D fit", "valid")
    for heading in headings:
        table.add_column(heading, justify="right")
    for p in result.pulses:
        table.add_row(
            str(p.index),
            _num(p.soc, ".3f"),
            f"{p.tau_s:.0f}",
            f"{p.delta_Es_V * 1e3:.2f}",
            f"{p.delta_Et_V * 1e3:.2f}",
            f"{p.D_cm2_s:.3g}",
            f"{p.D_model_cm2_s:.3g}",
            "yes" if p.valid else "no: " + "; ".join(p.reasons),
        )
    console.print(table)
    summary = outcome.summary
    console.print(
        f"median D (cm²/s) of {summary['valid_pulses']} valid pulses: Weppner–Huggins "
        f"{_num(summary['D_cm2_s_median'], '.3g')} (its bias here "
        f"{_num(summary['wh_bias_median'], '+.0%')}); of {summary['model_valid_pulses']} pulses "
        f"the fit trusts: {_num(summary['D_model_cm2_s_median'], '.3g')}"
    )


@app.command()
def analyze(
    run: int = typer.Argument(..., help="Run id (see `cellbench runs list`)."),
    db: str | None = typer.Option(None, "--db", envvar="CELLBENCH_DB", help="Database URL."),
    output: Path = typer.Option(
        Path("cellbench-analysis"), "--output", help="Folder for the PNG plots."
    ),
    analysis: list[str] = typer.Option(
        [], "--analysis", help="Run only this analysis (repeatable); default: the protocol's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run the analyses a run's protocol names (or those its data calls for), plot, store."""
    from scheduler.analyze import analyse_stored_run
    from storage import open_store

    if run < 1:
        raise SchedulerError(f"run id {run} is not valid; run ids start at 1.")
    store = open_store(db)
    done = analyse_stored_run(store, run, output_dir=output, analyses=analysis or None)
    report = done.report
    data = {
        "run_id": run,
        **report.as_dict(),
        "plots": {name: str(path) for name, path in done.plots.items()},
        "stored_analysis_ids": done.stored,
    }

    def render(_: object) -> None:
        origin = (
            "inferred from the data"
            if report.inferred
            else ("asked for" if analysis else "named by the protocol")
        )
        render_report(
            report,
            f"Run {run}: {report.protocol or 'no protocol'} on {report.cell or 'unknown cell'} "
            f"(analyses {origin})",
        )
        for name, path in done.plots.items():
            console.print(f"plot {name}: {path}", markup=False)

    emit(data, as_json, render)
