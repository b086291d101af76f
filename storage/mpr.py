"""Import BioLogic EC-Lab `.mpr` files (via galvani) as runs beside new ones.

Mapping to BDF:
- ``time/s`` -> Test Time; ``Ewe/V`` (or ``<Ewe>/V``) -> Voltage; ``I/mA`` (or ``<I>/mA``) / 1000
  -> Current. Sign: BioLogic reports I > 0 for oxidation at the working electrode. With a cathode
  (or a full cell's positive electrode) on the working electrode, oxidation is delithiation, i.e.
  charge, which is BDF's positive current, so the sign is kept. For an anode against lithium
  (graphite on the working electrode), pass ``invert_current=True``.
- ``Ns`` -> Step Index (BDF Step ID); Step Count increments whenever Ns changes and never resets.
- ``cycle number`` -> Cycle Count; ``step time/s`` -> Step Time (else time since the step began).
- Cumulative charge/discharge capacity and energy are integrated from I and V (trapezoids), since
  EC-Lab's own Q columns reset per cycle or half cycle.
- EIS files (``freq/Hz``) also become spectra: Z' = Re(Z), Z'' = -(-Im(Z)) (negative = capacitive).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from storage.errors import StorageError
from storage.store import Store

SOURCE = "biologic-mpr"


def _first(names: tuple[str, ...] | list[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in names), None)


def _integrate(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative positive and negative parts of the trapezoid integral of y dt, in y*h."""
    if len(t) < 2:
        return np.zeros(len(t)), np.zeros(len(t))
    inc = np.zeros(len(t))
    inc[1:] = 0.5 * (y[1:] + y[:-1]) * np.diff(t) / 3600.0
    inc = np.nan_to_num(inc)
    return np.cumsum(np.clip(inc, 0, None)), np.cumsum(np.clip(-inc, 0, None))


def _open(path: Path) -> Any:
    """The galvani MPRfile of `path`; its failures become one-sentence StorageErrors."""
    try:
        from galvani.BioLogic import MPRfile

        return MPRfile(str(path))
    except ImportError:
        raise StorageError("Importing .mpr files needs galvani (`pip install galvani`).") from None
    except (OSError, ValueError, NotImplementedError, AssertionError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"Cannot read BioLogic file {path}: {reason}.") from None


def _start(mpr: Any) -> dt.datetime | None:
    """When the file's experiment began: its timestamp, else midnight of its start date."""
    start = getattr(mpr, "timestamp", None)
    if start is None:
        start_date = getattr(mpr, "startdate", None)
        start = dt.datetime.combine(start_date, dt.time()) if start_date else None
    return start


def _sample_columns(
    path: Path, mpr: Any, start: dt.datetime | None, invert_current: bool
) -> dict[str, np.ndarray]:
    """The file's data table as SAMPLE_COLUMNS-keyed arrays (mapping in the module docstring)."""
    data = mpr.data
    names = data.dtype.names or ()
    n = len(data)
    t_col = _first(names, "time/s")
    if t_col is None:
        raise StorageError(f"BioLogic file {path} has no time/s column.")
    t = np.asarray(data[t_col], dtype=float)
    v_col = _first(names, "Ewe/V", "<Ewe>/V")
    i_col = _first(names, "I/mA", "<I>/mA", "control/mA")
    v = np.asarray(data[v_col], dtype=float) if v_col else np.full(n, np.nan)
    i = np.asarray(data[i_col], dtype=float) / 1000.0 if i_col else np.full(n, np.nan)
    if invert_current:
        i = -i
    ns = np.asarray(data["Ns"], dtype=np.int64) if "Ns" in names else np.zeros(n, np.int64)
    step_count = np.ones(n, dtype=np.int64)
    if n > 1:
        step_count[1:] += np.cumsum(ns[1:] != ns[:-1])
    if "step time/s" in names:
        step_time = np.asarray(data["step time/s"], dtype=float)
    else:
        starts = np.r_[0, np.flatnonzero(step_count[1:] != step_count[:-1]) + 1]
        step_time = t - np.repeat(t[starts], np.diff(np.r_[starts, n]))
    cycle = (
        np.nan_to_num(np.asarray(data["cycle number"], dtype=float)).astype(np.int64)
        if "cycle number" in names
        else np.zeros(n, np.int64)
    )
    q_ch, q_dis = _integrate(t, np.nan_to_num(i))
    e_ch, e_dis = _integrate(t, np.nan_to_num(i * v))
    temp = (
        np.asarray(data["Temperature/°C"], dtype=float)
        if "Temperature/°C" in names
        else np.full(n, np.nan)
    )
    unix = (
        t + start.astimezone().timestamp()
        if isinstance(start, dt.datetime) and hasattr(mpr, "timestamp")
        else np.full(n, np.nan)
    )
    return {
        "test_time_s": t,
        "unix_time_s": unix,
        "voltage_V": v,
        "current_A": i,
        "cycle": cycle,
        "step_count": step_count,
        "step_index": ns,
        "step_time_s": step_time,
        "charge_capacity_Ah": q_ch,
        "discharge_capacity_Ah": q_dis,
        "charge_energy_Wh": e_ch,
        "discharge_energy_Wh": e_dis,
        "temperature_degC": temp,
    }


def _spectra(data: Any, step_count: np.ndarray) -> list[dict[str, Any]]:
    """One spectrum per impedance sweep of an EIS file (none for other files)."""
    names = data.dtype.names or ()
    if not ("freq/Hz" in names and "Re(Z)/Ohm" in names and "-Im(Z)/Ohm" in names):
        return []
    f = np.asarray(data["freq/Hz"], dtype=float)
    mask = f > 0
    group_col = _first(names, "z cycle", "cycle number")
    groups = np.asarray(data[group_col]) if group_col else np.zeros(len(data))
    spectra = []
    for g in np.unique(groups[mask]):
        sel = mask & (groups == g)
        spectra.append(
            {
                "step_count": int(step_count[sel][0]),
                "frequency_Hz": f[sel],
                "z_real_ohm": np.asarray(data["Re(Z)/Ohm"][sel], dtype=float),
                "z_imag_ohm": -np.asarray(data["-Im(Z)/Ohm"][sel], dtype=float),
            }
        )
    return spectra


def read_mpr(path: str | Path, *, invert_current: bool = False) -> dict[str, Any]:
    """Read a .mpr file into SAMPLE_COLUMNS-keyed arrays plus spectra and file facts."""
    path = Path(path)
    mpr = _open(path)
    start = _start(mpr)
    columns = _sample_columns(path, mpr, start, invert_current)
    return {
        "columns": columns,
        "spectra": _spectra(mpr.data, columns["step_count"]),
        "n": len(mpr.data),
        "source_columns": list(mpr.data.dtype.names or ()),
        "start": start.isoformat() if start else None,
        "version": int(getattr(mpr, "version", 0)),
    }


def import_mpr(
    store: Store,
    path: str | Path,
    *,
    cell_name: str | None = None,
    invert_current: bool = False,
) -> int:
    """Import one .mpr file as a finished run of `cell_name` (default: the file's stem).

    Importing the same file (same sha256) again returns the existing run.
    """
    path = Path(path)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise StorageError(f"Cannot read BioLogic file {path}: {exc.strerror or exc}.") from None
    for run in store.list_runs():
        if run.source == SOURCE and (run.meta or {}).get("source_sha256") == digest:
            return run.id  # type: ignore[return-value]
    parsed = read_mpr(path, invert_current=invert_current)
    try:
        from importlib.metadata import version

        galvani_version = version("galvani")
    except Exception:
        galvani_version = "unknown"
    cell_id = store.add_cell(cell_name or path.stem)
    run_id = store.start_run(
        cell_id=cell_id,
        protocol_id=None,
        slot="imported",
        software_version=f"galvani {galvani_version}",
        source=SOURCE,
        metadata={
            "source_file": path.name,
            "source_sha256": digest,
            "source_columns": parsed["source_columns"],
            "source_start": parsed["start"],
            "mpr_data_version": parsed["version"],
            "current_sign": "BioLogic I>0 (oxidation at WE) "
            + ("inverted" if invert_current else "kept")
            + " as BDF charge-positive current",
        },
    )
    try:
        if parsed["n"]:
            store.write_samples(run_id, parsed["columns"])
        for spec in parsed["spectra"]:
            store.add_spectrum(run_id, **spec)
    except StorageError:
        store.finish_run(run_id, "failed", f"import of {path.name} did not complete")
        raise
    store.finish_run(run_id, "imported", f"imported from {path.name} ({parsed['n']} points)")
    return run_id
