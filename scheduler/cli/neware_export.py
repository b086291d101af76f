"""`cellbench protocol export --to neware`: a bound protocol as a Neware BTS 8 step file, to
load in BTS by hand. Currents in the file are in mA, so the cell (`--cell`) must say what 1C
is when the protocol states C-rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from scheduler.cli.output import console, emit


def export_neware(plan: Any, file: Path, output: Path | None, as_json: bool) -> None:
    """Write (or print) the step file; what the host must guard itself goes to stderr."""
    from scheduler.neware_schedule import neware_schedule

    made = neware_schedule(plan)
    report = {
        "file": str(file),
        "to": "neware",
        "output": str(output) if output else None,
        "steps": len(made.steps),
        "host_guards": list(made.host_guards),
    }
    if output is None:
        if as_json:
            emit({**report, "content": made.xml}, True, lambda r: None)
            return
        typer.echo(made.xml, nl=False)
        for guard in made.host_guards:
            typer.echo(f"not in the file (the host guards it): {guard}", err=True)
        return
    output.write_text(made.xml, encoding="utf-8")

    def render(r: dict[str, Any]) -> None:
        console.print(f"[bold green]✓[/] wrote {r['output']} ({r['steps']} Neware steps)")
        for guard in r["host_guards"]:
            console.print(f"  not in the file (the host guards it): {guard}")

    emit(report, as_json, render)


# `protocol export --to NAME` for vendor step files.
VENDOR_TARGETS = {"neware": export_neware}
