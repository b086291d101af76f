"""Rate table and IR drops on a rate ladder run on the real cell model."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_sim import rate_ladder

from protocols.analysis import (
    AnalysisError,
    cycle_summary,
    discharge_c_rates,
    ir_drops,
    rate_table,
)
from simulators.cell import Cell, load_preset

RATES = [0.1, 0.5, 1.0, 2.0, 0.1]


@pytest.fixture(scope="module")
def ladder() -> tuple[dict[str, np.ndarray], object, Cell]:
    params = load_preset("gao2025-dfncm-llzo").with_overrides(
        {"first_charge_side_current_mA_g": 0.0}
    )
    cell = Cell(params, soc=0.0, seed=5)
    samples = rate_ladder(cell, rates=RATES, cycles_per_rate=3)
    return samples, params, cell


def test_discharge_c_rates_are_read_from_the_current(ladder) -> None:
    samples, params, _ = ladder
    rates = discharge_c_rates(samples, params.one_c_A)
    assert list(rates.values()) == [r for r in RATES for _ in range(3)]


def test_rate_table_blocks_normalisation_and_recovery(ladder) -> None:
    samples, params, _ = ladder
    summary = cycle_summary(samples, active_mass_g=params.active_mass_g)
    rates = discharge_c_rates(samples, params.one_c_A)
    table = rate_table(summary, rates)
    assert [row.c_rate for row in table.rows] == RATES
    assert table.unit == "mAh/g"
    by_cycle = {row.cycle: row.discharge_mAh_g for row in summary}
    for row in table.rows:
        values = [by_cycle[c] for c in row.cycles]
        assert row.mean == pytest.approx(np.mean(values))
        assert row.sd == pytest.approx(np.std(values, ddof=1))
    means = [row.mean for row in table.rows[:4]]
    assert means == sorted(means, reverse=True)  # capacity falls as the rate rises
    assert table.rows[0].normalised == 1.0
    assert table.rows[3].normalised < 0.9
    # 0.1C at the end gives back the first 0.1C capacity, less a little fade
    assert table.recovery == pytest.approx(table.rows[4].mean / table.rows[0].mean)
    assert 0.95 < table.recovery <= 1.0
    assert "0.1C" in table.reference and "cycles 1–3" in table.reference
    trimmed = rate_table(summary, rates, exclude_first=True)
    assert trimmed.rows[1].used_cycles == table.rows[1].cycles[1:]
    assert trimmed.as_dict()["rows"][1]["used_cycles"] == list(table.rows[1].cycles[1:])


def test_ir_drop_at_each_switch(ladder) -> None:
    samples, params, cell = ladder
    truth = cell.truth()  # at the end: the film has grown a little over the ladder's cycles
    fresh = Cell(params).truth()
    ohmic = truth["Rs_ohm"] + truth["R_film_ohm"]
    fresh_ohmic = fresh["Rs_ohm"] + fresh["R_film_ohm"]
    drops = ir_drops(samples)
    kinds = [d.kind for d in drops]
    assert kinds.count("discharge onset") == 15
    assert kinds.count("charge onset") == 14  # the first charge starts with the record
    assert kinds.count("rest onset") == 30
    for drop in drops:
        assert drop.dt_s == pytest.approx(1e-4, rel=1e-6)  # the logger's first point
        step = abs(drop.current_after_A - drop.current_before_A)
        noise = 4.0 * params.noise_V * np.sqrt(2.0) / step  # 4σ of two noisy readings
        assert drop.resistance_ohm > fresh_ohmic - noise
        if drop.kind != "rest onset":  # (a rest also drops the electrolyte-depletion part)
            # at 0.1 ms the film has charged (τ = 16 µs), the double layer (≥ 7.5 ms) barely
            assert drop.resistance_ohm < ohmic + 0.05 * truth["Rct_ohm"] + noise
    later = ir_drops(samples, delta_t_s=1.0)
    assert all(d.dt_s == 1.0 for d in later)
    early = {d.index: d for d in drops if d.kind == "discharge onset"}
    onsets = [d for d in later if d.kind == "discharge onset"]
    assert len(onsets) == 15
    for drop in onsets:  # by 1 s the double layer has charged: charge transfer adds on
        assert drop.resistance_ohm > 1.3 * early[drop.index].resistance_ohm
    summary = cycle_summary(samples, active_mass_g=params.active_mass_g)
    assert all(fresh_ohmic * 0.9 < row.discharge_ir_ohm < ohmic * 1.1 for row in summary)
    median = np.median([row.discharge_ir_ohm for row in summary])
    assert fresh_ohmic < median < ohmic + 0.05 * truth["Rct_ohm"]


def test_rate_table_bad_input() -> None:
    with pytest.raises(AnalysisError, match="empty"):
        rate_table([], {})
    with pytest.raises(AnalysisError, match="1C current"):
        discharge_c_rates({"current_A": [0.0], "cycle": [1]}, 0.0)
    with pytest.raises(AnalysisError, match="Δt"):
        ir_drops({"test_time_s": [0, 1], "voltage_V": [3, 3], "current_A": [0, 1]}, delta_t_s=-1)
