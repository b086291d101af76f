"""BioLogic .mpr import through galvani: units, sign, step counting, capacity, spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpr_writer import write_mpr

from storage import StorageError, Store, import_mpr


def _galvanostatic_file(tmp_path: Path) -> tuple[Path, dict]:
    # Ns 0: rest 600 s; Ns 1: charge at +0.5 mA for 2 h; Ns 2: discharge at -0.5 mA for 1 h.
    t = np.arange(0.0, 3 * 3600 + 600, 10.0)
    ns = np.where(t < 600, 0, np.where(t < 600 + 7200, 1, 2))
    i_mA = np.select([ns == 0, ns == 1, ns == 2], [0.0, 0.5, -0.5])
    v = 3.6 + 0.5 * (ns == 1) * (t - 600) / 7200 - 0.2 * (ns == 2)
    cycle = np.ones_like(t)
    path = write_mpr(
        tmp_path / "NCM811_half_cell.mpr",
        {1: np.zeros(len(t)), 4: t, 6: v, 8: i_mA, 24: cycle, 131: ns},
    )
    return path, {"t": t, "i_mA": i_mA, "ns": ns}


def test_import_maps_units_sign_steps_and_capacity(store: Store, tmp_path: Path) -> None:
    path, src = _galvanostatic_file(tmp_path)
    run_id = import_mpr(store, path)
    run = store.get_run(run_id)
    assert run.status == "imported" and run.source == "biologic-mpr"
    assert store.get_cell(run.cell_id).name == "NCM811_half_cell"
    assert run.meta["source_file"] == path.name and "Ns" in run.meta["source_columns"]
    data = store.read_samples(run_id)
    assert len(data["test_time_s"]) == len(src["t"])
    np.testing.assert_allclose(data["current_A"], src["i_mA"] / 1000.0, rtol=1e-6)
    assert data["current_A"].max() == pytest.approx(5e-4)  # mA -> A, oxidation = charge > 0
    np.testing.assert_array_equal(data["step_index"], src["ns"])
    assert data["step_count"][0] == 1 and data["step_count"][-1] == 3
    # 0.5 mA for 2 h charged 1.0 mAh; 0.5 mA for 1 h discharged 0.5 mAh (cumulative, in Ah).
    assert data["charge_capacity_Ah"][-1] == pytest.approx(1.0e-3, rel=2e-3)
    assert data["discharge_capacity_Ah"][-1] == pytest.approx(0.5e-3, rel=5e-3)
    assert (np.diff(data["charge_capacity_Ah"]) >= 0).all()
    step2 = data["step_count"] == 2
    assert data["step_time_s"][step2][0] == 0.0
    assert data["step_time_s"][step2][-1] == pytest.approx(7190.0)
    # The same file again is the same run; an anode file can flip the sign.
    assert import_mpr(store, path) == run_id
    other = write_mpr(tmp_path / "graphite.mpr", {4: src["t"], 8: src["i_mA"], 131: src["ns"]})
    flipped = import_mpr(store, other, cell_name="graphite-1", invert_current=True)
    assert store.read_samples(flipped)["current_A"].min() == pytest.approx(-5e-4)
    assert np.isnan(store.read_samples(flipped)["voltage_V"]).all()


def test_import_eis_file_becomes_spectra(store: Store, tmp_path: Path) -> None:
    f = np.logspace(5, -1, 25)
    z = 4.0 + 30.0 / (1 + 1j * 2 * np.pi * f * 30.0 * 2e-5)
    path = write_mpr(
        tmp_path / "peis.mpr",
        {
            4: np.arange(25.0),
            6: np.full(25, 3.7),
            8: np.zeros(25),
            32: f,
            37: z.real,
            38: -z.imag,
            24: np.ones(25),
        },
    )
    run_id = import_mpr(store, path, cell_name="eis-cell")
    [spec] = store.spectra(run_id)
    assert spec.n_points == 25
    np.testing.assert_allclose(spec.z_imag_ohm, z.imag, rtol=1e-5)  # negative: capacitive
    assert max(spec.z_imag_ohm) < 0
    assert spec.z_real_ohm[-1] == pytest.approx(34.0, rel=1e-3)


def test_bad_mpr_is_one_sentence(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mpr"
    bad.write_bytes(b"not a biologic file at all")
    with pytest.raises(StorageError, match=r"Cannot read BioLogic file .*bad\.mpr"):
        import_mpr(store, bad)
    with pytest.raises(StorageError, match="Cannot read BioLogic file"):
        import_mpr(store, tmp_path / "missing.mpr")
    assert store.list_runs() == []
