"""`cellbench cell add|list`: the cells under test and what their 1C is computed from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from scheduler.cli import app
from scheduler.cli.options import DB_OPTION, JSON_OPTION, open_db
from scheduler.cli.output import console, emit
from scheduler.errors import SchedulerError, field_errors

cell_app = typer.Typer(name="cell", help="Cells under test: add, list.", no_args_is_help=True)
app.add_typer(cell_app, name="cell")

# Option -> CellSpec field (the spec parses numbers with units, e.g. "12.3mg", "0.785cm2").
_FIELDS = {
    "mass": "active_mass_mg",
    "area": "area_cm2",
    "loading": "loading_mg_cm2",
    "specific_capacity": "specific_capacity_mAh_g",
    "areal_capacity": "areal_capacity_mAh_cm2",
    "nominal_capacity": "nominal_capacity_mAh",
    "counter_electrode_V": "counter_electrode_V",
}
_OPTION_NAMES = {
    "active_mass_mg": "--mass",
    "area_cm2": "--area",
    "loading_mg_cm2": "--loading",
    "specific_capacity_mAh_g": "--specific-capacity",
    "areal_capacity_mAh_cm2": "--areal-capacity",
    "nominal_capacity_mAh": "--nominal-capacity",
    "counter_electrode": "--counter-electrode",
    "counter_electrode_V": "--counter-electrode-V",
    "chemistry": "--chemistry",
    "name": "NAME",
}


def _spec(data: dict[str, Any]) -> Any:
    """Validate the cell fields with the protocol package's CellSpec (units via pint)."""
    from pydantic import ValidationError

    from protocols import CellSpec

    try:
        return CellSpec.model_validate(data)
    except ValidationError as exc:
        field, msg = field_errors(exc)[0]
        where = _OPTION_NAMES.get(field, field)
        raise SchedulerError(
            f"cell {data.get('name')}: {where} {data.get(field)!r} is not valid: {msg}"
            if field in data
            else f"cell {data.get('name')}: {msg}"
        ) from None


def store_fields(spec: Any) -> dict[str, Any]:
    """CellSpec -> the Store's cell columns, with the file's notes kept in `extra`."""
    from scheduler.binding import CellInfo

    fields = CellInfo.from_spec(spec).store_fields()
    if spec.notes:
        fields["extra"] = {**(fields["extra"] or {}), "notes": spec.notes}
    return fields


def cell_row(cell: Any) -> dict[str, Any]:
    """A stored cell as plain data, with its 1C when it has a capacity basis."""
    from scheduler.binding import CellInfo

    try:
        basis = CellInfo.from_row(cell).basis()
    except Exception:  # a stored cell with impossible numbers still lists
        basis = None
    return {
        "id": cell.id,
        "name": cell.name,
        "chemistry": cell.chemistry,
        "active_mass_mg": cell.active_mass_g * 1000.0 if cell.active_mass_g else None,
        "area_cm2": cell.area_cm2,
        "loading_mg_cm2": cell.loading_mg_cm2,
        "specific_capacity_mAh_g": cell.specific_capacity_mAh_g,
        "nominal_capacity_mAh": cell.nominal_capacity_mAh,
        "extra": cell.extra,
        "one_c_A": basis.one_c_A if basis else None,
        "capacity_basis": basis.description if basis else None,
    }


@cell_app.command("add")
def add(
    name: str | None = typer.Argument(None, help="Cell name (from the file with --from-file)."),
    mass: str | None = typer.Option(None, "--mass", help="Active mass, e.g. 12.3mg."),
    area: str | None = typer.Option(None, "--area", help="Electrode area, e.g. 0.785cm2."),
    loading: str | None = typer.Option(None, "--loading", help="Loading, e.g. 15mg/cm2."),
    specific_capacity: str | None = typer.Option(
        None, "--specific-capacity", help="Specific capacity in mAh/g, e.g. 200."
    ),
    areal_capacity: str | None = typer.Option(
        None, "--areal-capacity", help="Areal capacity, e.g. 2mAh/cm2."
    ),
    nominal_capacity: str | None = typer.Option(
        None, "--nominal-capacity", help="Nominal capacity, e.g. 5mAh."
    ),
    chemistry: str | None = typer.Option(None, "--chemistry", help="e.g. NCM811|LPSCl|Li."),
    counter_electrode: str | None = typer.Option(
        None,
        "--counter-electrode",
        help="Li (default), Li-In, or another with --counter-electrode-V.",
    ),
    counter_electrode_V: str | None = typer.Option(
        None, "--counter-electrode-V", help="Counter electrode potential vs Li/Li+."
    ),
    from_file: Path | None = typer.Option(
        None, "--from-file", help="Cell file (YAML or TOML) as `protocol check --cell` reads."
    ),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a cell (or update the fields given for an existing one)."""
    given = {
        "mass": mass,
        "area": area,
        "loading": loading,
        "specific_capacity": specific_capacity,
        "areal_capacity": areal_capacity,
        "nominal_capacity": nominal_capacity,
        "counter_electrode_V": counter_electrode_V,
    }
    if from_file is not None:
        if any(v is not None for v in given.values()):
            raise SchedulerError("give the cell either as options or with --from-file, not both")
        from protocols import CellSpec

        spec = CellSpec.load(from_file)
        if name and name != spec.name:
            spec = spec.model_copy(update={"name": name})
    else:
        if not name:
            raise SchedulerError("cell add needs a NAME (or --from-file CELLFILE)")
        data: dict[str, Any] = {"name": name}
        for option, value in given.items():
            if value is not None:
                data[_FIELDS[option]] = _number_or_text(value)
        if chemistry is not None:
            data["chemistry"] = chemistry
        if counter_electrode is not None:
            data["counter_electrode"] = counter_electrode
        spec = _spec(data)
    with open_db(db) as store:
        store.add_cell(spec.name, **store_fields(spec))
        row = cell_row(store.get_cell(spec.name))

    def render(d: dict[str, Any]) -> None:
        basis = d["capacity_basis"] or "no capacity basis yet (C-rate protocols need one)"
        console.print(f"cell [bold]{d['name']}[/] (id {d['id']}): {basis}")

    emit(row, as_json, render)


def _number_or_text(value: str) -> float | str:
    """A bare number stays a number (in the option's unit); anything else goes to pint."""
    try:
        return float(value)
    except ValueError:
        return value


@cell_app.command("list")
def list_cells(db: str | None = DB_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List the cells, by name, with their capacity basis."""
    with open_db(db) as store:
        rows = [cell_row(c) for c in store.list_cells()]

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            console.print("No cells yet; add one with `cellbench cell add NAME --mass ...`.")
            return
        table = Table("id", "cell", "chemistry", "mass", "area", "1C")
        for r in data:
            table.add_row(
                str(r["id"]),
                r["name"],
                r["chemistry"] or "-",
                "-" if r["active_mass_mg"] is None else f"{r['active_mass_mg']:.4g} mg",
                "-" if r["area_cm2"] is None else f"{r['area_cm2']:.4g} cm²",
                r["capacity_basis"] or "-",
            )
        console.print(table)

    emit(rows, as_json, render)
