"""Voltage sweeps: cyclic voltammetry between vertices, and linear sweeps."""

from __future__ import annotations

from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.report import Where
from protocols.compile.safety import check_in_window
from protocols.compile.state import Compilation, Proto


def _voltage(c: Compilation, raw: Any, w: Where) -> tuple[float | None, bool, str]:
    """(cell voltage, whether it is the open-circuit voltage, text)."""
    if isinstance(raw, str) and raw.strip().lower() in ("ocv", "ocp"):
        return None, True, "OCV"
    v = c.units.q(raw, (U.VOLTAGE,), w, reference=True)
    if v is None:
        return None, False, ""
    volts = c.units.cell_v(v)
    check_in_window(c, "voltage", volts, f"the sweep voltage {v.text}", w)
    return volts, False, v.text


def sweep(c: Compilation, b: S.SweepBody, w: Where) -> Proto | None:
    start, at_ocv, start_text = _voltage(c, b.start, w.at("start"))
    verts = [_voltage(c, x, w.at("vertices").at(i)) for i, x in enumerate(b.vertices)]
    for i, (_v, ocv, _t) in enumerate(verts):
        if ocv:
            c.fail(w.at("vertices").at(i), "a vertex must be a voltage, not OCV")
    end_raw = b.end if b.end is not None else b.start
    end, end_ocv, _ = _voltage(c, end_raw, w.at("end"))
    rate = c.units.q(b.scan_rate, (U.SCAN_RATE,), w.at("scan_rate"), positive=True)
    if (
        rate is None
        or (start is None and not at_ocv)
        or any(v is None for v, _, _ in verts)
        or (end is None and not end_ocv)
    ):
        return None
    shown = ", ".join(t for _, _, t in verts)
    fields = {
        "start_V": start if start is not None else 0.0,
        "vertices_V": tuple(v for v, _, _ in verts if v is not None),
        "end_V": end if end is not None else (start if start is not None else 0.0),
        "scan_rate_V_s": rate.value,
        "n_cycles": b.cycles,
        "start_at_ocv": at_ocv,
        "_setpoint_text": f"CV {start_text} ↔ {shown} at {rate.text} × {b.cycles}",
    }
    return Proto(P.Sweep, fields, [], w, "sweep")


def lsv(c: Compilation, b: S.LSVBody, w: Where) -> Proto | None:
    start, at_ocv, start_text = _voltage(c, b.start, w.at("start"))
    end, end_ocv, end_text = _voltage(c, b.end, w.at("end"))
    if end_ocv:
        c.fail(w.at("end"), "the end of a linear sweep must be a voltage")
        return None
    rate = c.units.q(b.scan_rate, (U.SCAN_RATE,), w.at("scan_rate"), positive=True)
    if rate is None or end is None or (start is None and not at_ocv):
        return None
    fields = {
        "start_V": start if start is not None else 0.0,
        "vertices_V": (),
        "end_V": end,
        "scan_rate_V_s": rate.value,
        "n_cycles": 1,
        "start_at_ocv": at_ocv,
        "_setpoint_text": f"LSV {start_text} → {end_text} at {rate.text}",
    }
    return Proto(P.Sweep, fields, [], w, "sweep")
