"""Per-cycle summary from Battery Data Format columns.

Capacities come from the cumulative charge and discharge capacity columns, which never
reset, so a cycle's capacity is the sum of that column's increments within the cycle.
Coulombic efficiency is Q_dis / Q_ch for a cell that charges first (a cathode half cell);
pass `charge_first=False` for an anode-first half cell, where it is Q_ch / Q_dis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np

from protocols.analysis.errors import AnalysisError
from protocols.analysis.steps import cycle_ir


@dataclass(frozen=True)
class CycleSummary:
    cycle: int
    charge_mAh: float
    discharge_mAh: float
    charge_mAh_g: float | None
    discharge_mAh_g: float | None
    charge_mAh_cm2: float | None
    discharge_mAh_cm2: float | None
    coulombic_efficiency: float | None  # fraction
    energy_efficiency: float | None
    charge_Wh: float
    discharge_Wh: float
    mean_charge_V: float | None
    mean_discharge_V: float | None
    retention: float | None  # discharge / reference cycle's discharge
    discharge_ir_ohm: float | None = None  # R_DC at the discharge onset (see steps.ir_drops)

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _increments(cumulative: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(np.asarray(cumulative, dtype=float))
    return np.diff(values, prepend=0.0)


def _discharge_ir(samples: Mapping[str, np.ndarray], delta_t_s: float | None) -> dict[int, float]:
    """R_DC at each cycle's discharge onset, or nothing when the columns are not there."""
    if not all(key in samples for key in ("test_time_s", "voltage_V", "current_A")):
        return {}
    try:
        return cycle_ir(samples, kind="discharge onset", delta_t_s=delta_t_s)
    except AnalysisError:
        return {}


def cycle_summary(
    samples: Mapping[str, np.ndarray],
    *,
    active_mass_g: float | None = None,
    area_cm2: float | None = None,
    charge_first: bool = True,
    reference_cycle: int | None = None,
    min_capacity_mAh: float = 1e-6,
    ir_delta_t_s: float | None = None,
) -> list[CycleSummary]:
    """One row per cycle that passed charge; retention against `reference_cycle` (default first).

    The IR drop at each cycle's discharge onset is read `ir_delta_t_s` after the switch (the
    first sample after it when unset).
    """
    cycles = np.asarray(samples["cycle"]).astype(int)
    if cycles.size == 0:
        return []
    ir_by_cycle = _discharge_ir(samples, ir_delta_t_s)
    increments = {
        key: _increments(samples[key])
        for key in (
            "charge_capacity_Ah",
            "discharge_capacity_Ah",
            "charge_energy_Wh",
            "discharge_energy_Wh",
        )
    }
    rows: list[CycleSummary] = []
    for number in np.unique(cycles):
        mask = cycles == number
        q_ch = float(increments["charge_capacity_Ah"][mask].sum()) * 1e3
        q_dis = float(increments["discharge_capacity_Ah"][mask].sum()) * 1e3
        if max(q_ch, q_dis) < min_capacity_mAh:
            continue
        e_ch = float(increments["charge_energy_Wh"][mask].sum())
        e_dis = float(increments["discharge_energy_Wh"][mask].sum())
        first, second = (q_ch, q_dis) if charge_first else (q_dis, q_ch)
        e_first, e_second = (e_ch, e_dis) if charge_first else (e_dis, e_ch)
        rows.append(
            CycleSummary(
                cycle=int(number),
                charge_mAh=q_ch,
                discharge_mAh=q_dis,
                charge_mAh_g=q_ch / active_mass_g if active_mass_g else None,
                discharge_mAh_g=q_dis / active_mass_g if active_mass_g else None,
                charge_mAh_cm2=q_ch / area_cm2 if area_cm2 else None,
                discharge_mAh_cm2=q_dis / area_cm2 if area_cm2 else None,
                coulombic_efficiency=second / first if first > min_capacity_mAh else None,
                energy_efficiency=e_second / e_first if e_first > 0 else None,
                charge_Wh=e_ch,
                discharge_Wh=e_dis,
                mean_charge_V=e_ch / (q_ch / 1e3) if q_ch > min_capacity_mAh else None,
                mean_discharge_V=e_dis / (q_dis / 1e3) if q_dis > min_capacity_mAh else None,
                retention=None,
                discharge_ir_ohm=ir_by_cycle.get(int(number)),
            )
        )
    reference = next(
        (r for r in rows if reference_cycle is None or r.cycle == reference_cycle), None
    )
    if reference is not None and reference.discharge_mAh > 0:
        rows = [replace(r, retention=r.discharge_mAh / reference.discharge_mAh) for r in rows]
    return rows
