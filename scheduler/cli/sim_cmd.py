"""`cellbench sim`: the simulated bench. This module owns `sim presets`; others add `sim run`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from scheduler.cli import app
from scheduler.cli.output import console, emit

sim_app = typer.Typer(name="sim", help="Simulated instruments and cells.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")


def _summary(name: str) -> dict[str, Any]:
    from simulators.cell import cell_kind, load_preset, preset_path
    from simulators.cell.electrolyte_params import ElectrolyteParameters

    params = load_preset(name)
    row: dict[str, Any] = {
        "name": name,
        "kind": cell_kind(params),
        "description": params.description,
        "capacity_mAh": None,
        "one_c_mA": None,
        "window_V": None,
        "T_ref_degC": params.T_ref_degC,
        "path": str(preset_path(name)),
    }
    if isinstance(params, ElectrolyteParameters):  # no cathode, no voltage window
        nominal = params.nominal_capacity_mAh
        row["capacity_mAh"] = None if nominal is None else round(nominal, 4)
        row["sigma_mS_cm"] = params.sigma_mS_cm
        row["thickness_um"] = params.thickness_um
    else:
        row["capacity_mAh"] = round(params.capacity_Ah * 1000.0, 4)
        row["one_c_mA"] = round(params.one_c_A * 1000.0, 4)
        row["window_V"] = [params.v_min, params.v_max]
    return row


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _render_list(rows: list[dict[str, Any]]) -> None:
    table = Table(title="cell presets")
    for column in ("name", "kind", "capacity (mAh)", "1C (mA)", "window (V)", "T_ref (°C)"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        window = row["window_V"]
        table.add_row(
            row["name"],
            "NCM | Li" if row["kind"] == "ncm-half-cell" else row["kind"],
            _number(row["capacity_mAh"]),
            _number(row["one_c_mA"]),
            "-" if window is None else f"{window[0]:g}-{window[1]:g}",
            f"{row['T_ref_degC']:g}",
        )
    console.print(table)
    for row in rows:
        console.print(f"[bold]{row['name']}[/bold]: {row['description']}", highlight=False)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


LONG_TEXT = 40  # text values longer than this are printed above the table, not in it


def _render_one(data: dict[str, Any]) -> None:
    console.print(f"[bold]cell preset {data['name']}[/bold]  ({data['path']})", highlight=False)
    for row in data["parameters"]:
        if isinstance(row["value"], str) and len(row["value"]) > LONG_TEXT:
            console.print(f"[bold]{row['name']}[/bold]: {row['value']}", highlight=False)
    table = Table()
    table.add_column("parameter", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("meaning")
    for row in data["parameters"]:
        value = row["value"]
        if isinstance(value, str) and len(value) > LONG_TEXT:
            value = "(above)"
        table.add_row(row["name"], _format_value(value), row["unit"], row["meaning"])
    console.print(table)
    derived = data["derived"]
    if "capacity_mAh" not in derived:
        console.print(
            ", ".join(f"{key} = {_format_value(value)}" for key, value in derived.items()),
            highlight=False,
        )
        return
    console.print(
        f"capacity {derived['capacity_mAh']:.4g} mAh, 1C = {derived['one_c_mA']:.4g} mA, "
        f"model sphere radius {derived['particle_radius_um']:.4g} µm, "
        f"L²/D = {derived['L2_over_D_s']:.4g} s (GITT pulses must be much shorter)"
    )


@sim_app.command("presets")
def presets(
    name: str | None = typer.Argument(None, help="A preset name or a preset file path."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the cell presets, or show every parameter of one with its unit and meaning."""
    from simulators.cell import list_presets, load_preset, preset_path
    from simulators.cell.electrolyte_params import ElectrolyteParameters

    if name is None:
        emit([_summary(n) for n in list_presets()], as_json, _render_list)
        return
    params = load_preset(name)
    if isinstance(params, ElectrolyteParameters):  # its own derived numbers
        data = {
            "name": params.name,
            "path": str(preset_path(name)),
            "parameters": params.describe(),
            "derived": params.derived(),
        }
        emit(data, as_json, _render_one)
        return
    length_cm = params.diffusion_length_um * 1e-4
    data = {
        "name": params.name,
        "path": str(preset_path(name)),
        "parameters": params.describe(),
        "derived": {
            "capacity_mAh": params.capacity_Ah * 1000.0,
            "one_c_mA": params.one_c_A * 1000.0,
            "particle_radius_um": params.particle_radius_um,
            "L2_over_D_s": length_cm**2 / params.D_cm2_s,
        },
    }
    emit(data, as_json, _render_one)
