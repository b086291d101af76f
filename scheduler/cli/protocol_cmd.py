"""`cellbench protocol check|show|export`: validate, expand and export protocol files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml
from rich.table import Table

from protocols.errors import Problem, ProtocolError

if TYPE_CHECKING:  # the protocol machinery (pint, pybamm export) loads only when a command runs
    from protocols import CellSpec, Plan, Protocol
from scheduler.cli import app
from scheduler.cli.output import console, emit

protocol_app = typer.Typer(help="Check, show and export protocol files.", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")

SetOption = typer.Option(None, "--set", help="Override a parameter: NAME=VALUE (repeatable).")
CellOption = typer.Option(
    None, "--cell", help="Cell file (YAML or TOML) giving the capacity basis."
)


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ProtocolError([Problem("--set", "", f"'{pair}' is not NAME=VALUE")])
        try:
            out[name.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[name.strip()] = value
    return out


def _bind(
    file: Path, cell: Path | None, sets: list[str] | None
) -> tuple[Protocol, Plan, CellSpec | None]:
    from protocols import CellSpec, load
    from scheduler.binding import CellInfo, bind

    protocol = load(file)
    overrides = _overrides(sets)
    spec = CellSpec.load(cell) if cell else None
    if spec is not None:
        spec.basis()  # a cell file must state what 1C is
        plan = bind(protocol, CellInfo.from_spec(spec), overrides).plan
    else:
        plan = protocol.check(overrides=overrides or None)
    return protocol, plan, spec


def _loop_marks(plan: Plan) -> dict[int, list[str]]:
    marks: dict[int, list[str]] = {}
    for span in plan.loops:
        count = "until a limit ends it" if span.count is None else f"×{span.count}"
        marks.setdefault(span.start, []).append(f"┌ loop {count} (steps {span.start}–{span.end})")
    return marks


def _report(protocol: Protocol, plan: Plan, spec: CellSpec | None) -> dict[str, Any]:
    from protocols.display import describe_limit, describe_step
    from protocols.estimate import estimate
    from protocols.plan import step_to_dict

    est = estimate(plan)
    return {
        "file": protocol.source,
        "name": plan.name,
        "valid": True,
        "sha256": plan.sha256,
        "cell": spec.name if spec else None,
        "basis": plan.basis.to_dict() if plan.basis else None,
        "needs_cell": plan.needs_cell,
        "parameters": plan.parameters,
        "safety": step_to_dict_safety(plan),
        "loops": [
            {"start": s.start, "end": s.end, "count": s.count, "label": s.label} for s in plan.loops
        ],
        "steps": [
            {
                **step_to_dict(s),
                "description": describe_step(s),
                "ends": [describe_limit(lim, s.record.dt_s) for lim in s.limits],
            }
            for s in plan.steps
        ],
        "estimate": est.to_dict(),
    }


def step_to_dict_safety(plan: Plan) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(plan.safety)


def _render_check(report: dict[str, Any], plan: Plan) -> None:
    from protocols.display import describe_limit, describe_step
    from protocols.units import format_si

    console.print(f"[bold green]✓[/] {report['file']}: [bold]{report['name']}[/] is valid")
    if plan.basis:
        console.print(f"  capacity basis: {plan.basis.description}")
    elif plan.needs_cell:
        console.print(
            "  [yellow]currents shown as C-rates; give --cell to resolve them into amperes[/]"
        )
    marks = _loop_marks(plan)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("#", "step", "setpoint", "ends when", "cycle type"):
        table.add_column(col)
    for step in plan.steps:
        for mark in marks.get(step.index, []):
            table.add_row("", f"[cyan]{mark}[/]", "", "", "")
        ends = "; ".join(describe_limit(lim, step.record.dt_s) for lim in step.limits) or "—"
        table.add_row(str(step.index), step.label, describe_step(step), ends, step.cycle_type or "")
    console.print(table)
    s = plan.safety
    parts = []
    if s.voltage_min_V is not None or s.voltage_max_V is not None:
        parts.append(f"V {s.voltage_min_V}–{s.voltage_max_V} V")
    if s.abs_current_max_A is not None:
        parts.append(f"|I| ≤ {format_si(s.abs_current_max_A, 'A')}")
    if s.temperature_max_degC is not None:
        parts.append(f"T ≤ {s.temperature_max_degC:g} °C")
    if s.pressure_max_Pa is not None:
        parts.append(f"P ≤ {s.pressure_max_Pa / 1e6:g} MPa")
    console.print(f"  safety: {', '.join(parts) or 'none'}")
    est = report["estimate"]
    r = est["resources"]
    console.print(f"  duration: typical {est['typical']}, at most {est['max']}")
    for line in est["unbounded"][:20]:
        console.print(f"    [yellow]cannot bound[/] {line}")
    if len(est["unbounded"]) > 20:
        console.print(f"    … and {len(est['unbounded']) - 20} more")
    needs = []
    if r["eis"]:
        needs.append(
            f"EIS-capable channel ({', '.join(r['eis_modes'])}, "
            f"{format_si(r['eis_f_min_Hz'], 'Hz')}–{format_si(r['eis_f_max_Hz'], 'Hz')})"
        )
    if r["chamber"]:
        needs.append(f"chamber ({', '.join(f'{t:g}' for t in r['temperatures_degC'])} °C)")
    if r["pressure_rig"]:
        needs.append(f"pressure rig ({', '.join(f'{p / 1e6:g}' for p in r['pressures_Pa'])} MPa)")
    if r["max_abs_current_A"] is not None:
        needs.append(f"current up to {format_si(r['max_abs_current_A'], 'A')}")
    elif r["max_c_rate"] is not None:
        needs.append(f"current up to {r['max_c_rate']:g}C (cell needed for amperes)")
    if r["voltage_min_V"] is not None:
        needs.append(f"voltage {r['voltage_min_V']:.4g}–{r['voltage_max_V']:.4g} V")
    console.print(f"  needs: {'; '.join(needs) or 'a potentiostat channel'}")
    console.print(f"  techniques: {', '.join(r['techniques'])}")


@protocol_app.command("check")
def check(
    file: Path = typer.Argument(..., help="Protocol file (YAML)."),
    cell: Path | None = CellOption,
    set_: list[str] | None = SetOption,
    bench_file: Path | None = typer.Option(
        None, "--bench", help="Bench file (TOML): also check FILE against its slots."
    ),
    slot: str | None = typer.Option(None, "--slot", help="With --bench: this slot only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Validate FILE, show it expanded step by step, estimate its duration and resources.

    With --bench, FILE is also checked against what the bench's slots can do, as
    `queue submit` checks a job: one that fits no slot is refused in one sentence."""
    from scheduler.errors import SchedulerError

    if slot is not None and bench_file is None:
        raise SchedulerError("--slot needs --bench (the bench file the slot is in)")
    protocol, plan, spec = _bind(file, cell, set_)
    report = _report(protocol, plan, spec)
    if bench_file is not None:
        from scheduler.bench import Bench
        from scheduler.checks import fitting_slots

        report["fits"] = fitting_slots(plan, Bench.load(bench_file), protocol.name, slot)

    def render(r: dict[str, Any]) -> None:
        _render_check(r, plan)
        if "fits" in r:
            console.print(f"  runs on slots: {', '.join(r['fits'])}")

    emit(report, as_json, render)


@protocol_app.command("show")
def show(
    file: Path = typer.Argument(..., help="Protocol file (YAML)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a protocol's name, parameters (with defaults) and source."""
    from rich.syntax import Syntax

    from protocols import load

    protocol = load(file)
    data = {
        "file": protocol.source,
        "name": protocol.name,
        "description": protocol.description,
        "sha256": protocol.sha256,
        "parameters": protocol.parameters,
        "analyses": protocol.analyses,
        "metadata": protocol.metadata,
        "needs_cell": protocol.needs_cell,
        "source": protocol.source_text,
    }

    def render(d: dict[str, Any]) -> None:
        console.print(f"[bold]{d['name']}[/] — {d['description']}")
        console.print(f"  sha256 {d['sha256']}")
        for k, v in d["parameters"].items():
            console.print(f"  parameter {k} = {v}")
        console.print(Syntax(d["source"], "yaml", line_numbers=True))

    emit(data, as_json, render)


@protocol_app.command("export")
def export(
    file: Path = typer.Argument(..., help="Protocol file (YAML)."),
    to: str = typer.Option("pybamm", "--to", help="Target: pybamm or neware (a BTS step file)."),
    fmt: str = typer.Option(
        "python", "--format", help="python (a script), json (Experiment config) or strings."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here instead of stdout."
    ),
    cell: Path | None = CellOption,
    set_: list[str] | None = SetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the export report as JSON."),
) -> None:
    """Export the electrochemical part of FILE as a PyBaMM Experiment (says what was left
    out), or as a Neware BTS step file (refuses what the cycler cannot run)."""
    import json

    from protocols.export_pybamm import experiment_config, python_source, to_pybamm
    from scheduler.cli.neware_export import VENDOR_TARGETS

    if to in VENDOR_TARGETS:  # vendor step files, written whole or refused
        return VENDOR_TARGETS[to](_bind(file, cell, set_)[1], file, output, as_json)
    if to != "pybamm":
        raise ProtocolError(
            [Problem(str(file), "", f"unknown export target '{to}'; valid: pybamm, neware")]
        )
    if fmt not in ("python", "json", "strings"):
        raise ProtocolError(
            [Problem(str(file), "", f"unknown format '{fmt}'; valid: python, json, strings")]
        )
    _protocol, plan, _spec = _bind(file, cell, set_)
    conditions, omitted = to_pybamm(plan)
    if not conditions:
        raise ProtocolError(
            [
                Problem(
                    str(file),
                    "",
                    f"has no electrochemical steps PyBaMM can run (left out: {', '.join(omitted)})",
                )
            ]
        )
    if fmt == "python":
        text = python_source(plan)
    elif fmt == "json":
        text = json.dumps(experiment_config(plan), indent=2)
    else:
        text = json.dumps([list(c) if isinstance(c, tuple) else c for c in conditions], indent=2)
    report = {
        "file": str(file),
        "to": to,
        "format": fmt,
        "output": str(output) if output else None,
        "cycles": len(conditions),
        "omitted": omitted,
    }
    if output:
        output.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
        emit(report, as_json, lambda r: _render_export(r))
    else:
        if as_json:
            emit({**report, "content": text}, True, lambda r: None)
        else:
            typer.echo(text)
            for item in omitted:
                typer.echo(f"left out: {item}", err=True)


def _render_export(r: dict[str, Any]) -> None:
    console.print(f"[bold green]✓[/] wrote {r['output']} ({r['cycles']} PyBaMM cycles)")
    for item in r["omitted"]:
        console.print(f"  left out: {item}")


__all__ = ["protocol_app"]
