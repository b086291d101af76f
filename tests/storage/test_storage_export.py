"""BDF export (CSV and Parquet) read back with pandas/pyarrow and batterydf, and the runs CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from storage import BDF_LABELS, StorageError, Store, export_run

BDF_REQUIRED = ["Test Time / s", "Voltage / V", "Current / A"]


def _cycle_run(store: Store) -> tuple[int, dict[str, np.ndarray]]:
    """One charge (+I) and one discharge (-I) at 1 mA, 1 s samples, with capacity counters."""
    cell = store.add_cell("NCM811-X", active_mass_g=0.005, specific_capacity_mAh_g=200.0)
    proto = store.add_protocol("cc", "steps: [charge, discharge]")
    run_id = store.start_run(
        cell_id=cell,
        protocol_id=proto,
        slot="ch3",
        bench="bench-b",
        instruments=[
            {
                "name": "smu",
                "vendor": "Keithley",
                "model": "2450",
                "serial": "4",
                "firmware": "1.7.12b",
            }
        ],
        capacity_basis="1C = 1.0 mAh (0.005 g x 200 mAh/g)",
        software_version="0.1.0",
    )
    n = 3600
    t = np.arange(2 * n, dtype=float)
    current = np.where(t < n, 1e-3, -1e-3)
    q_ch = np.cumsum(np.where(current > 0, current, 0.0)) / 3600
    q_dis = np.cumsum(np.where(current < 0, -current, 0.0)) / 3600
    cols = {
        "test_time_s": t,
        "unix_time_s": 1.7e9 + t,
        "voltage_V": 3.7 + 0.5 * np.sin(t / 5000),
        "current_A": current,
        "cycle": 1,
        "step_count": np.where(t < n, 1, 2),
        "step_index": np.where(t < n, 0, 1),
        "step_time_s": np.where(t < n, t, t - n),
        "charge_capacity_Ah": q_ch,
        "discharge_capacity_Ah": q_dis,
        "temperature_degC": 25.0,
    }
    store.write_samples(run_id, cols)
    store.record_step(
        run_id,
        step_count=1,
        step_index=0,
        kind="cc",
        label="charge 1C",
        started_at_s=0,
        ended_at_s=n,
        end_reason="time",
        cycle=1,
        charge_Ah=1e-3,
    )
    store.add_spectrum(
        run_id,
        step_count=2,
        frequency_Hz=[1e3, 1.0],
        z_real_ohm=[2.0, 9.0],
        z_imag_ohm=[-0.1, -3.0],
    )
    store.finish_run(run_id, "completed")
    return run_id, cols


def _check_bdf_frame(df: pd.DataFrame, cols: dict[str, np.ndarray]) -> None:
    for label in BDF_REQUIRED:
        assert label in df.columns
    assert set(df.columns) <= set(BDF_LABELS.values())
    assert "Applied Pressure / Pa" not in df.columns  # never measured: left out
    np.testing.assert_array_equal(df["Test Time / s"].to_numpy(), cols["test_time_s"])
    np.testing.assert_array_equal(df["Current / A"].to_numpy(), cols["current_A"])
    assert (np.diff(df["Test Time / s"].to_numpy()) > 0).all()
    # Positive current is charge: charging capacity only grows while the current is positive.
    dq = np.diff(df["Charging Capacity / Ah"].to_numpy())
    assert (dq[df["Current / A"].to_numpy()[1:] < 0] == 0).all()
    assert df["Charging Capacity / Ah"].iloc[-1] == pytest.approx(1e-3)
    assert df["Discharging Capacity / Ah"].iloc[-1] == pytest.approx(1e-3)
    assert df["Step Count / 1"].dtype.kind == "i"


@pytest.mark.parametrize("fmt", ["bdf-csv", "parquet"])
def test_export_round_trips(store: Store, tmp_path: Path, fmt: str) -> None:
    run_id, cols = _cycle_run(store)
    paths = export_run(store, run_id, fmt, tmp_path)
    data, eis, meta_path = paths
    assert data.name.startswith("cellbench__NCM811-X__") and meta_path.suffix == ".json"
    df = pd.read_csv(data) if fmt == "bdf-csv" else pd.read_parquet(data)
    _check_bdf_frame(df, cols)
    if fmt == "parquet":
        table = pq.read_table(data)
        assert json.loads(table.schema.metadata[b"cellbench"])["run"]["id"] == run_id
    eis_df = pd.read_csv(eis) if fmt == "bdf-csv" else pd.read_parquet(eis)
    assert list(eis_df.columns) == [
        "Step Count / 1",
        "Frequency / Hz",
        "Real Impedance / ohm",
        "Imaginary Impedance / ohm",
    ]
    assert eis_df["Imaginary Impedance / ohm"].max() < 0
    meta = json.loads(meta_path.read_text())
    assert meta["cell"]["name"] == "NCM811-X" and meta["cell"]["active_mass_g"] == 0.005
    assert meta["protocol"]["source_text"] == "steps: [charge, discharge]"
    assert meta["instruments"][0]["firmware"] == "1.7.12b"
    assert meta["capacity_basis"].startswith("1C = 1.0 mAh")
    assert meta["software_version"] == "0.1.0"
    assert meta["steps"][0]["end_reason"] == "time"
    assert meta["data_files"] == [data.name, eis.name]
    assert {c["label"] for c in meta["columns"]} == set(df.columns)


@pytest.mark.parametrize("fmt", ["bdf-csv", "parquet"])
def test_export_reads_back_with_batterydf(store: Store, tmp_path: Path, fmt: str) -> None:
    run_id, cols = _cycle_run(store)
    path = tmp_path / ("run.bdf.csv" if fmt == "bdf-csv" else "run.bdf.parquet")
    export_run(store, run_id, fmt, path)
    try:
        import bdf
    except ImportError:  # our own checks above stand in for the reference reader
        pytest.skip("batterydf is not installed")
    df = bdf.read(path)
    report = bdf.validate(df)
    assert report["ok"] and report["missing"] == []
    assert report["time_stats"]["monotonic"]
    _check_bdf_frame(df, cols)


def test_export_errors(store: Store, tmp_path: Path) -> None:
    run_id, _ = _cycle_run(store)
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(StorageError, match="not one of bdf-csv, parquet"):
        export_run(store, run_id, "xlsx", tmp_path)
    with pytest.raises(StorageError, match="does not exist"):
        export_run(store, run_id, "bdf-csv", tmp_path / "nope" / "x.csv")
    with pytest.raises(StorageError, match="no run 42"):
        export_run(store, 42, "bdf-csv", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_runs_cli(store: Store, tmp_path: Path) -> None:
    import scheduler.cli.runs_cmd  # noqa: F401  (registers `runs`)
    from scheduler.cli import app

    run_id, _ = _cycle_run(store)
    runner = CliRunner()
    env = {"CELLBENCH_DB": store.url, "COLUMNS": "200"}
    listed = runner.invoke(app, ["runs", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["id"] == run_id and row["samples"] == 7200 and row["cell"] == "NCM811-X"
    assert row["duration"].count(":") == 2
    table = runner.invoke(app, ["runs", "list"], env=env)
    assert "NCM811-X" in table.output and "7,200" in table.output
    shown = runner.invoke(app, ["runs", "show", str(run_id), "--json", "--db", store.url])
    detail = json.loads(shown.output)
    assert detail["instruments"][0]["model"] == "2450"
    assert detail["steps"][0]["duration_s"] == 3600.0
    out = tmp_path / "r.bdf.parquet"
    exported = runner.invoke(
        app,
        ["runs", "export", str(run_id), "--format", "parquet", "--output", str(out), "--json"],
        env=env,
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["files"][0] == str(out)
    assert len(pd.read_parquet(out)) == 7200
    missing = runner.invoke(app, ["runs", "show", "999"], env=env)
    assert missing.exit_code != 0 and isinstance(missing.exception, StorageError)


def test_plain_csv_writer_matches_the_arrow_one(tmp_path: Path) -> None:
    """Without pyarrow the csv-module writer is used; both give the same table back."""
    from storage.export import _write_csv, _write_csv_plain

    header = ["Test Time / s", "Voltage / V", "Cycle Count / 1"]
    cols = [np.array([0.0, 0.1, 1 / 3]), np.array([3.7, np.nan, 1e-9]), np.array([1, 1, 2])]
    _write_csv(tmp_path / "a.csv", header, cols)
    _write_csv_plain(tmp_path / "b.csv", header, cols)
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == header and np.isnan(a["Voltage / V"][1])
    np.testing.assert_array_equal(b["Test Time / s"].to_numpy(), cols[0])  # exact round trip
    assert (tmp_path / "b.csv").read_text().splitlines()[2] == "0.1,,1"
