"""The cell's capacity basis at run time: a protocol that defines 1C per electrode area (the
pouch cell's 7.1 mAh/cm²) must get the cell's area, not fall back to the cell's mAh/g."""

from __future__ import annotations

import pytest

import protocols
from scheduler.binding import CellInfo, bind


def test_areal_protocol_basis_uses_the_cells_area() -> None:
    protocol = protocols.load(protocols.LIBRARY / "gao2025/pouch-cycling.yaml")
    cell = CellInfo("pouch", active_mass_g=0.656, area_cm2=20.0, specific_capacity_mAh_g=205.0)
    plan = bind(protocol, cell).plan
    one_c = 7.1e-3 * cell.area_cm2  # A: 7.1 mAh/cm² over 20 cm²
    assert plan.basis.one_c_A == pytest.approx(one_c)
    formation_charge = plan.steps[1]
    assert formation_charge.current_A == pytest.approx(0.05 * one_c)


def test_without_an_area_the_cells_own_1c_is_used_and_said() -> None:
    protocol = protocols.load(protocols.LIBRARY / "gao2025/pouch-cycling.yaml")
    cell = CellInfo("coin", active_mass_g=0.02, specific_capacity_mAh_g=200.0)
    plan = bind(protocol, cell).plan
    assert plan.basis.one_c_A == pytest.approx(0.02 * 0.2)  # 200 mA/g × 20 mg
    assert "needs the electrode area" in plan.basis.description
