"""Steps that set the cell's surroundings: the chamber temperature and the stack pressure."""

from __future__ import annotations

import math
from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.report import Where
from protocols.compile.safety import check_in_window
from protocols.compile.state import Compilation, Proto

CHAMBER_RANGE_DEGC = (-100.0, 300.0)  # what a test chamber does

# (field, kind, step attribute, must be > 0 (else >= 0))
_TEMPERATURE_FIELDS = (
    ("ramp", U.RAMP, "ramp_K_per_min", True),
    ("tolerance", U.DELTA_T, "tolerance_K", True),
    ("stable_for", U.TIME, "stable_for_s", False),
    ("soak", U.TIME, "soak_s", False),
    ("timeout", U.TIME, "timeout_s", True),
)
_PRESSURE_FIELDS = (
    ("tolerance", U.PRESSURE, "tolerance_Pa", True),
    ("settle", U.TIME, "settle_s", False),
    ("timeout", U.TIME, "timeout_s", True),
)


def _optional_fields(
    c: Compilation,
    b: Any,
    w: Where,
    specs: tuple[tuple[str, U.Kind, str, bool], ...],
    fields: dict[str, Any],
    *,
    nonneg_always: bool,
) -> bool:
    """Read the optional fields of `specs` into `fields`; False when one is invalid."""
    for key, kind, out, positive in specs:
        raw = getattr(b, key)
        if raw is None:
            continue
        nonneg = True if nonneg_always else not positive
        v = c.units.q(raw, (kind,), w.at(key), positive=positive, nonneg=nonneg)
        if v is None:
            return False
        fields[out] = v.value
    return True


def set_temperature(c: Compilation, b: S.SetTemperatureBody, w: Where) -> Proto | None:
    t = c.units.q(b.target, (U.TEMPERATURE,), w.at("target"))
    if t is None:
        return None
    low, high = CHAMBER_RANGE_DEGC
    if not low <= t.value <= high:
        c.fail(w.at("target"), f"{t.text} is outside what a test chamber does (−100 to 300 °C)")
        return None
    fields: dict[str, Any] = {"target_degC": t.value, "_setpoint_text": f"chamber to {t.text}"}
    if not _optional_fields(c, b, w, _TEMPERATURE_FIELDS, fields, nonneg_always=False):
        return None
    check_in_window(c, "temperature", t.value, t.text, w.at("target"))
    return Proto(P.SetTemperature, fields, [], w, "set_temperature")


def set_pressure(c: Compilation, b: S.SetPressureBody, w: Where) -> Proto | None:
    if (b.target is None) == (b.force is None):
        c.fail(
            w,
            "set_pressure needs either 'target' (e.g. 15 MPa) or 'force' (e.g. 1178 N), not both",
        )
        return None
    target = _target_pa(c, b, w)
    if target is None:
        return None
    pascal, text = target
    fields: dict[str, Any] = {"target_Pa": pascal, "_setpoint_text": f"stack pressure {text}"}
    if not _optional_fields(c, b, w, _PRESSURE_FIELDS, fields, nonneg_always=True):
        return None
    check_in_window(c, "pressure", pascal, text, w.at("target"))
    return Proto(P.SetPressure, fields, [], w, "set_pressure")


def _target_pa(c: Compilation, b: S.SetPressureBody, w: Where) -> tuple[float, str] | None:
    """The target pressure in Pa (NaN, noted, when a force needs an unknown area), with text."""
    if b.target is not None:
        p = c.units.q(b.target, (U.PRESSURE,), w.at("target"), nonneg=True)
        return (p.value, p.text) if p else None
    f = c.units.q(b.force, (U.FORCE,), w.at("force"), nonneg=True)
    if f is None:
        return None
    basis = c.units.basis
    area = basis.area_cm2 if basis else None
    if not area:
        c.need(
            w.at("force"),
            f"'{f.text}' is a force, so the cell area must be known to give a pressure",
        )
        return math.nan, f.text
    return f.value / (area * 1e-4), f.text
