"""Export a run as Battery Data Format (CSV or Parquet) plus a metadata JSON.

Columns carry the BDF preferred labels ("Voltage / V") and fixed units; current is positive on
charge. Optional columns that a run never measured (all NaN) are left out; the three required ones
(test time, voltage, current) are always written. Missing values are empty CSV fields / Parquet
nulls. Files are written to a temporary name and renamed, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from storage.columns import BDF_LABELS, EXPORT_FORMATS, SAMPLE_COLUMNS
from storage.errors import StorageError
from storage.store import Store, jsonable

FORMATS = EXPORT_FORMATS

REQUIRED_KEYS = ("test_time_s", "voltage_V", "current_A")
BDF_ONTOLOGY = "BDF 1.3.0"
_EIS_LABELS = {
    "step_count": "Step Count / 1",
    "frequency_Hz": "Frequency / Hz",
    "z_real_ohm": "Real Impedance / ohm",
    "z_imag_ohm": "Imaginary Impedance / ohm",
}
_CSV_BLOCK = 50_000


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "cell"


def default_filename(store: Store, run_id: int, fmt: str) -> str:
    """BDF naming: Institution__CellName__YYYYMMDD_XXX with the BDF extension."""
    run = store.get_run(run_id)
    cell = store.get_cell(run.cell_id).name if run.cell_id is not None else "cell"
    day = dt.datetime.fromtimestamp(run.started_at, dt.UTC).strftime("%Y%m%d")
    ext = ".bdf.csv" if fmt == "bdf-csv" else ".bdf.parquet"
    return f"cellbench__{_slug(cell)}__{day}_{run_id:03d}{ext}"


def _base(path: Path) -> Path:
    name = path.name
    for suffix in (".bdf.csv", ".bdf.parquet", ".csv", ".parquet"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _columns_to_write(samples: dict[str, np.ndarray]) -> list[str]:
    keep = []
    for key, (_, dtype) in SAMPLE_COLUMNS.items():
        values = samples[key]
        if key in REQUIRED_KEYS or dtype.kind == "i" or not np.isnan(values).all():
            keep.append(key)
    return keep


def _write_csv(path: Path, header: list[str], columns: list[np.ndarray]) -> None:
    """CSV with empty fields for NaN; pyarrow's C++ writer when present, else the csv module."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:
        _write_csv_plain(path, header, columns)
        return
    arrays = [
        pa.array(v, from_pandas=True) if v.dtype.kind == "f" else pa.array(v) for v in columns
    ]
    table = pa.Table.from_arrays(arrays, names=header)
    with path.open("wb") as fh:
        fh.write((",".join(header) + "\n").encode("utf-8"))
        pa_csv.write_csv(table, fh, pa_csv.WriteOptions(include_header=False))


def _write_csv_plain(path: Path, header: list[str], columns: list[np.ndarray]) -> None:
    n = len(columns[0]) if columns else 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for start in range(0, n, _CSV_BLOCK):
            block = []
            for values in columns:
                part = values[start : start + _CSV_BLOCK]
                items = part.tolist()
                if part.dtype.kind == "f" and np.isnan(part).any():
                    items = [None if x != x else x for x in items]
                block.append(items)
            writer.writerows(zip(*block, strict=True))


def _write_parquet(
    path: Path, header: list[str], columns: list[np.ndarray], metadata: dict[str, Any]
) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise StorageError(
            "Parquet export needs pyarrow; install it with `pip install pyarrow`."
        ) from None
    arrays = [
        pa.array(v, from_pandas=True) if v.dtype.kind == "f" else pa.array(v) for v in columns
    ]
    table = pa.Table.from_arrays(arrays, names=header)
    table = table.replace_schema_metadata({"cellbench": json.dumps(metadata)})
    pq.write_table(table, path, compression="zstd")


def run_metadata(store: Store, run_id: int, written: list[str] | None = None) -> dict[str, Any]:
    """Everything needed to reproduce and interpret a run: cell, protocol, instruments, steps."""
    run = store.get_run(run_id)
    cell = store.get_cell(run.cell_id).model_dump() if run.cell_id is not None else None
    protocol = None
    if run.protocol_id is not None:
        p = store.get_protocol(run.protocol_id)
        protocol = {"id": p.id, "name": p.name, "sha256": p.sha256, "source_text": p.source_text}
    return jsonable(
        {
            "format": BDF_ONTOLOGY,
            "sign_convention": "Current / A is positive on charge (BDF).",
            "run": {
                "id": run.id,
                "job_id": run.job_id,
                "slot": run.slot,
                "status": run.status,
                "message": run.message,
                "source": run.source,
                "host": run.host,
                "started_at_utc": _iso(run.started_at),
                "ended_at_utc": _iso(run.ended_at),
                "metadata": run.meta,
            },
            "cell": cell,
            "capacity_basis": run.capacity_basis,
            "protocol": protocol,
            "bench": {"name": run.bench, "text": run.bench_text},
            "instruments": run.instruments or [],
            "software_version": run.software_version,
            "steps": [s.model_dump() for s in store.steps(run_id)],
            "events": [e.model_dump() for e in store.events(run_id)],
            "analyses": [
                {"kind": a.kind, "result": a.result, "created_at_utc": _iso(a.created_at)}
                for a in store.analyses(run_id)
            ],
            "columns": [
                {"key": key, "label": BDF_LABELS[key], "unit": BDF_LABELS[key].split(" / ")[-1]}
                for key in (written or list(SAMPLE_COLUMNS))
            ],
            "exported_at_utc": _iso(dt.datetime.now(dt.UTC).timestamp()),
        }
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def export_run(
    store: Store,
    run_id: int,
    fmt: Literal["bdf-csv", "parquet"] | str,
    path: str | Path,
) -> list[Path]:
    """Write the run's samples (and spectra, if any) plus `<name>.metadata.json`.

    `path` is the data file, or an existing directory to receive a BDF-named file. Returns the
    paths written: data file, spectra file (when the run has spectra), metadata JSON.
    """
    if fmt not in FORMATS:
        raise StorageError(f"Export format {fmt!r} is not one of {', '.join(FORMATS)}.")
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / default_filename(store, run_id, fmt)
    if not target.parent.is_dir():
        raise StorageError(f"Export folder {target.parent} does not exist.")
    samples = store.read_samples(run_id)
    keys = _columns_to_write(samples)
    header = [BDF_LABELS[k] for k in keys]
    columns = [samples[k] for k in keys]
    metadata = run_metadata(store, run_id, keys)
    base = _base(target)
    eis_path = base.with_name(base.name + ".eis" + target.name[len(base.name) :])
    meta_path = base.with_name(base.name + ".metadata.json")
    spectra = store.spectra(run_id)
    done: list[Path] = []
    try:
        if fmt == "bdf-csv":
            _atomic_write(target, lambda p: _write_csv(p, header, columns))
        else:
            _atomic_write(target, lambda p: _write_parquet(p, header, columns, metadata))
        done.append(target)
        if spectra:
            eis_header, eis_cols = _spectra_columns(spectra)
            if fmt == "bdf-csv":
                _atomic_write(eis_path, lambda p: _write_csv(p, eis_header, eis_cols))
            else:
                _atomic_write(eis_path, lambda p: _write_parquet(p, eis_header, eis_cols, {}))
            done.append(eis_path)
        metadata["data_files"] = [p.name for p in done]
        text = json.dumps(metadata, indent=2, allow_nan=False)
        _atomic_write(meta_path, lambda p: p.write_text(text + "\n", encoding="utf-8"))
        done.append(meta_path)
    except BaseException as exc:
        for path_done in done:  # all or nothing
            path_done.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"Cannot write export {target}: {exc.strerror or exc}.") from None
        raise
    return done


def _spectra_columns(spectra: list[Any]) -> tuple[list[str], list[np.ndarray]]:
    """All spectra of a run as one long BDF EIS table, tagged by step count."""
    eis: dict[str, list[float]] = {k: [] for k in _EIS_LABELS}
    for spec in spectra:
        eis["step_count"].extend([spec.step_count] * spec.n_points)
        for key in ("frequency_Hz", "z_real_ohm", "z_imag_ohm"):
            eis[key].extend(getattr(spec, key) or [])
    cols = [np.asarray(eis[k], dtype=np.int64 if k == "step_count" else float) for k in _EIS_LABELS]
    return list(_EIS_LABELS.values()), cols
