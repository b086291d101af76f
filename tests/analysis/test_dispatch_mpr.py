"""`cellbench analyze` on a BioLogic .mpr run (no protocol: the analyses come from the data) and
on a run made by `cellbench sim run` (the protocol names them); results are stored and plotted."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from analysis_sim import Recorder, gitt

from protocols.analysis import cycle_summary
from scheduler.cli import main
from simulators.cell import Cell, load_preset
from storage import import_mpr, open_store

PRESET = load_preset("gao2025-dfncm-llzo")
_spec = importlib.util.spec_from_file_location(
    "mpr_writer", Path(__file__).parents[1] / "storage" / "mpr_writer.py"
)
mpr_writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mpr_writer)


def _write(path: Path, samples: dict) -> Path:
    """BioLogic columns from BDF samples: mA, V, s, cycle number, Ns (one per step)."""
    return mpr_writer.write_mpr(
        path,
        {
            1: np.zeros(samples["test_time_s"].size),
            4: samples["test_time_s"],
            6: samples["voltage_V"],
            8: samples["current_A"] * 1e3,
            24: samples["cycle"].astype(float),
            131: samples["step_count"] % 65536,
        },
    )


def _analyze(db: str, run_id: int, out: Path, capsys) -> dict:
    main(["analyze", str(run_id), "--db", db, "--output", str(out), "--json"])
    return json.loads(capsys.readouterr().out)


def _cycling() -> dict:
    rec = Recorder(Cell(PRESET, seed=21), seed=21)
    one_c = PRESET.one_c_A
    for _ in range(3):
        for current, limit in ((0.2 * one_c, PRESET.v_max), (-0.2 * one_c, PRESET.v_min)):
            rec.step(6.5 * 3600, current, dt=1e-3, grow=10.0, max_dt=30.0, v_limit=limit)
            rec.step(600.0, 0.0, dt=1e-3, grow=10.0, max_dt=60.0)
        rec.cycle += 1
    return rec.samples()


def test_imported_cycling_file_gets_a_cycle_summary(tmp_path, capsys) -> None:
    samples = _cycling()
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_store(db)
    store.add_cell("coin-7", active_mass_g=PRESET.active_mass_g, area_cm2=PRESET.area_cm2)
    run_id = import_mpr(store, _write(tmp_path / "coin-7.mpr", samples), cell_name="coin-7")
    data = _analyze(db, run_id, tmp_path / "plots", capsys)
    assert data["inferred"] and data["requested"] == ["cycle_summary", "ir_drop"]
    summary = data["analyses"]["cycle_summary"]["summary"]
    direct = cycle_summary(samples, active_mass_g=PRESET.active_mass_g)
    assert summary["cycles"] == 3
    assert summary["first_discharge"] == pytest.approx(direct[0].discharge_mAh_g, rel=2e-3)
    assert summary["first_cycle_CE"] == pytest.approx(direct[0].coulombic_efficiency, abs=2e-3)
    assert summary["unit"] == "mAh/g"
    assert set(data["plots"]) == {"voltage_vs_capacity", "capacity_and_ce"}
    assert all(Path(p).is_file() for p in data["plots"].values())
    kinds = [a.kind for a in store.analyses(run_id)]
    assert kinds == ["cycle_summary", "ir_drop"] and len(data["stored_analysis_ids"]) == 2
    assert data["protocol"] == "imported (coin-7.mpr)"


def test_imported_gitt_file_uses_the_cells_diffusion_length(tmp_path, capsys) -> None:
    cell = Cell(PRESET, soc=0.5, seed=4)
    l2d = cell.truth()["L2_over_D_s"]
    samples = gitt(cell, current_A=0.5 * PRESET.one_c_A, tau_s=20.0, rest_s=3 * l2d, pulses=4)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_store(db)
    store.add_cell("gitt-3", extra={"diffusion_length_um": PRESET.diffusion_length_um})
    run_id = import_mpr(store, _write(tmp_path / "gitt.mpr", samples), cell_name="gitt-3")
    data = _analyze(db, run_id, tmp_path / "plots", capsys)
    assert data["requested"] == ["gitt"]
    gitt_out = data["analyses"]["gitt"]
    assert gitt_out["summary"]["valid_pulses"] == 4
    assert gitt_out["summary"]["D_cm2_s_median"] == pytest.approx(PRESET.D_cm2_s, rel=0.25)
    assert "as recorded with the cell" in gitt_out["notes"][0]
    assert set(data["plots"]) == {"gitt_diffusion"}


def test_sim_run_prints_the_protocols_analyses_and_analyze_repeats_them(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    protocol = Path("protocols/library/gao2025/formation.yaml").resolve()
    main(["sim", "run", str(protocol), "--db", db, "--json", "--output", str(tmp_path)])
    ran = json.loads(capsys.readouterr().out)
    assert ran["status"] == "completed"
    first = ran["analyses"]["cycle_summary"]["summary"]
    assert first["first_cycle_CE"] == pytest.approx(0.9225, abs=0.02)
    again = _analyze(db, ran["run_id"], tmp_path / "again", capsys)
    assert not again["inferred"] and again["requested"] == ["cycle_summary"]
    assert again["analyses"]["cycle_summary"]["summary"] == first
    # the preset's diffusion length was recorded with the cell
    cell = open_store(db).get_cell("sim gao2025-dfncm-llzo")
    assert cell.extra["diffusion_length_um"] == PRESET.diffusion_length_um


def test_sim_run_binds_protocol_parameters(tmp_path, capsys) -> None:
    """--param rate=1C runs the library formation at 1C: 10x the 0.1C current, less capacity."""
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    protocol = str(Path("protocols/library/gao2025/formation.yaml").resolve())
    capacities, currents = {}, {}
    for rate in ("0.1C", "1C"):
        main(["sim", "run", protocol, "--db", db, "--json", "--param", f"rate={rate}"])
        ran = json.loads(capsys.readouterr().out)
        assert ran["status"] == "completed"
        [cycle] = ran["cycles"]
        capacities[rate] = cycle["discharge_mAh_g"]
        samples = open_store(db).read_samples(ran["run_id"])
        currents[rate] = float(samples["current_A"].max())  # the charge current
    assert currents["1C"] == pytest.approx(10 * currents["0.1C"], rel=1e-3)
    assert currents["1C"] == pytest.approx(0.2 * PRESET.active_mass_g, rel=1e-3)  # 200 mA/g
    assert capacities["1C"] < 0.9 * capacities["0.1C"]


def test_analyze_of_a_missing_run_is_one_line(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["analyze", "42", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert caught.value.code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "42" in err[0]
