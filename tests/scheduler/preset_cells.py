"""The cell a simulated slot's preset holds, as the whole-stack runs bind it: 200 mAh/g."""

from __future__ import annotations

from typing import Any

from scheduler.binding import CellInfo


def preset_cell(name: str, params: Any) -> CellInfo:
    """A cell of the preset's active mass and area, 1C from 200 mAh/g."""
    return CellInfo(
        name,
        active_mass_g=params.active_mass_g,
        area_cm2=params.area_cm2,
        specific_capacity_mAh_g=200.0,
    )
