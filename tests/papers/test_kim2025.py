"""kim2025 through `cellbench demo --paper kim2025`: the formation capacity of Model 4 at 85 wt%
(60 °C, 15 MPa; the whole-stack run with its pressure dependence is
tests/scheduler/test_solid_state_run.py) reaches the reported-vs-measured table and its JSON.

The demo runs every kim2025 procedure (the other cells' numbers are checked one by one in
test_kim2025_cells.py); here the formation row is picked out of the whole table."""

from __future__ import annotations

import json

import pytest

from scheduler.cli import main


@pytest.mark.slow
def test_kim2025_demo_table_as_json(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'kim.db'}"
    args = ["demo", "--paper", "kim2025", "--procedure", "formation", "--db", db, "--json"]
    main([*args, "--output", str(tmp_path)])
    rows = json.loads(capsys.readouterr().out)
    assert all(
        set(row) >= {"quantity", "reported", "measured", "unit", "tolerance", "within"}
        for row in rows
    )
    assert {r["procedure"] for r in rows} == {"formation"}  # only the procedure asked for
    capacity, energy = rows
    assert capacity["reported"] == 198.88 and capacity["tolerance"] == "±3 %"
    assert capacity["measured"] == pytest.approx(198.88, rel=0.03) and capacity["within"] is True
    assert energy["unit"] == "Wh/L" and energy["within"] is True
    assert (tmp_path / f"run{capacity['run_id']}-voltage-capacity.png").is_file()


def test_list_procedures_names_each_with_its_numbers(capsys) -> None:
    main(["demo", "--paper", "kim2025", "--list-procedures", "--json"])
    listed = {row["procedure"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["formation"]["preset"] == "kim2025-model4-85wt"
    assert listed["formation"]["protocol"] == "kim2025/formation.yaml"
    assert all(row["quantities"] for row in listed.values())


def test_unknown_procedure_is_one_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--paper", "kim2025", "--procedure", "nope", "--db", "sqlite://"])
    assert caught.value.code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: --procedure 'nope' is not a kim2025")


def test_unknown_paper_is_one_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--paper", "smith2024", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert caught.value.code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == ["error: --paper must be one of gao2025, kim2025, ye2025, not 'smith2024'"]
