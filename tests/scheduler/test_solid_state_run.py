"""kim2025 formation on its preset through the whole stack: an ESPEC chamber at 60 °C, a
pneumatic press at 15 MPa (Alicat + Mark-10), and the EmStat4 — all over real TCP, on one
simulated clock. The stored conditions and the first-cycle capacity are checked, and the
capacity must fall when the stack pressure is lowered, as the contact model says."""

from __future__ import annotations

import numpy as np
import pytest
from preset_cells import preset_cell

import protocols
from protocols.analysis import cycle_summary
from scheduler.session import run_protocol
from scheduler.sim.bench import simulated_slot
from storage import open_store

PRESET = "kim2025-model4-85wt"
REPORTED_MAH_G = 198.88  # PAPERS.md: Model 4, 85 wt%, first cycle at 0.05C, 60 °C
TIME_SCALE = 6e4


async def formation(tmp_path, pressure_MPa: float) -> tuple[float, dict, object]:
    store = open_store(f"sqlite:///{tmp_path}/kim-{pressure_MPa:g}.db")
    protocol = protocols.load(protocols.LIBRARY / "kim2025" / "formation.yaml")
    async with simulated_slot(PRESET, time_scale=TIME_SCALE, press=True) as slot:
        params = slot.params
        cell = preset_cell("kim2025 Model 4 85 wt%", params)
        run_id, result = await run_protocol(
            store,
            protocol,
            cell,
            slot.driver,
            environment=slot.environment,
            overrides={"pressure": f"{pressure_MPa} MPa"},
        )
        assert result.status == "completed", result.message
        samples = store.read_samples(run_id)
        (first,) = cycle_summary(samples, active_mass_g=params.active_mass_g)
        return first.discharge_mAh_g, samples, slot.cell.truth()


@pytest.mark.slow
async def test_formation_at_60C_and_15MPa_and_its_pressure_dependence(tmp_path) -> None:
    capacity, samples, truth = await formation(tmp_path, 15.0)
    electrical = np.abs(samples["current_A"]) > 0
    temperature = samples["temperature_degC"][electrical]
    pressure_MPa = samples["pressure_Pa"][electrical] / 1e6
    assert np.all(np.abs(temperature - 60.0) < 1.0)
    assert np.all(np.abs(pressure_MPa - 15.0) < 0.5)
    assert truth["temperature_degC"] == pytest.approx(60.0, abs=0.5)
    assert capacity == pytest.approx(REPORTED_MAH_G, rel=0.03)

    low, _, low_truth = await formation(tmp_path, 5.0)
    assert low_truth["pressure_MPa"] == pytest.approx(5.0, abs=0.6)
    assert low < 0.95 * capacity  # lower stack pressure, higher contact resistance, less capacity
