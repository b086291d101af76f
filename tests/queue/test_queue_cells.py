"""`cellbench cell add|list`: units are parsed, the capacity basis is shown and stored."""

from __future__ import annotations

import json

import pytest

from scheduler.binding import CellInfo
from storage import Store


def test_cell_add_with_units_and_list(cli, store: Store) -> None:
    code, out, err = cli(
        "cell",
        "add",
        "NCM-7",
        "--mass",
        "12.3mg",
        "--area",
        "0.785cm2",
        "--specific-capacity",
        "200",
        "--chemistry",
        "NCM811|LPSCl|Li",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["one_c_A"] == pytest.approx(12.3e-3 * 200 / 1000)  # 2.46 mA
    cell = store.get_cell("NCM-7")
    assert cell.active_mass_g == pytest.approx(0.0123) and cell.area_cm2 == pytest.approx(0.785)
    assert cell.chemistry == "NCM811|LPSCl|Li"
    info = CellInfo.from_row(cell)
    assert info.basis().one_c_A == pytest.approx(2.46e-3)  # what binding uses agrees
    code, out, err = cli("cell", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["C1", "NCM-7"]


def test_cell_from_file_with_areal_capacity_and_counter_electrode(cli, store, tmp_path) -> None:
    path = tmp_path / "cell.yaml"
    path.write_text(
        "name: LiIn-3\narea_cm2: 0.785\nareal_capacity_mAh_cm2: 2 mAh/cm2\n"
        "counter_electrode: Li-In\n",
        encoding="utf-8",
    )
    code, _out, err = cli("cell", "add", "--from-file", path, "--json")
    assert code == 0, err
    cell = store.get_cell("LiIn-3")
    info = CellInfo.from_row(cell)
    assert info.basis().one_c_A == pytest.approx(0.785 * 2 / 1000)
    assert info.counter_electrode_V == pytest.approx(0.62)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("cell", "add", "X", "--mass", "12 V"), "--mass '12 V' is not valid"),
        (("cell", "add", "X", "--mass", "-3"), "--mass"),
        (("cell", "add"), "needs a NAME"),
        (("cell", "add", "X", "--mass", "1mg", "--from-file", "c.yaml"), "not both"),
    ],
)
def test_bad_cells_are_one_sentence(cli, store: Store, args, expected: str) -> None:
    code, out, err = cli(*args)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in out + err
    assert [c.name for c in store.list_cells()] == ["C1"]
