"""kim2025 through `cellbench demo --paper kim2025`: the formation capacity of Model 4 at 85 wt%
(60 °C, 15 MPa; the whole-stack run with its pressure dependence is
tests/scheduler/test_solid_state_run.py) reaches the reported-vs-measured table and its JSON.

The ~76 % retention after 50 cycles is the paper's number for 75 wt% cells, which have no
preset; the Model 4 (85 wt%) preset fades to ~83 %, so it is listed as not reproduced."""

from __future__ import annotations

import json

import pytest

from scheduler.cli import main


@pytest.mark.slow
def test_kim2025_demo_table_as_json(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'kim.db'}"
    main(["demo", "--paper", "kim2025", "--db", db, "--output", str(tmp_path), "--json"])
    rows = json.loads(capsys.readouterr().out)
    [row] = rows
    assert set(row) >= {"quantity", "reported", "measured", "unit", "tolerance", "within"}
    assert row["reported"] == 198.88 and row["unit"] == "mAh/g" and row["tolerance"] == "±3 %"
    assert row["measured"] == pytest.approx(198.88, rel=0.03) and row["within"] is True
    assert (tmp_path / f"run{row['run_id']}-voltage-capacity.png").is_file()


def test_unknown_paper_is_one_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--paper", "smith2024", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert caught.value.code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == ["error: --paper must be one of gao2025, kim2025, ye2025, not 'smith2024'"]
