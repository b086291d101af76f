"""Paper presets against the papers' reported numbers, with CC runs straight on the cell model.

Rate capability is the discharge capacity from a fully charged, rested cell (as after a CC-CV
charge) at constant current to the lower voltage limit. First-cycle CE is a CC charge then a CC
discharge of a fresh (discharged) cell. Retention is cycle 100 over cycle 1 of CC/CC cycling.
Reported numbers come from PAPERS.md; the tolerance is ±3 % unless stated.
"""

from __future__ import annotations

import pytest

from simulators.cell import Cell, CellParameters, load_preset


def cc(cell: Cell, current: float, limit: float, dt: float) -> float:
    """Constant current to a voltage limit; charge passed in Ah (crossing interpolated)."""
    charge, previous = 0.0, cell.voltage(current)
    for _ in range(1_000_000):
        voltage = cell.step(dt, current)
        if (current > 0 and voltage >= limit) or (current < 0 and voltage <= limit):
            fraction = (limit - previous) / (voltage - previous) if voltage != previous else 1.0
            return (charge + abs(current) * dt * min(max(fraction, 0.0), 1.0)) / 3600.0
        charge += abs(current) * dt
        previous = voltage
    raise AssertionError("voltage limit never reached")


def mah_g(params: CellParameters, ah: float) -> float:
    return ah * 1e6 / (params.active_mass_g * 1000.0)


def step_for(rate: float) -> float:
    return min(10.0, 3600.0 / rate / 600.0)


def discharge_capacity(params: CellParameters, rate: float, **conditions: float) -> float:
    cell = Cell(params, soc=1.0, **conditions)
    return mah_g(params, cc(cell, -rate * params.one_c_A, params.v_min, step_for(rate)))


def cycle(cell: Cell, params: CellParameters, rate: float) -> tuple[float, float]:
    charge = cc(cell, rate * params.one_c_A, params.v_max, step_for(rate))
    cell.rest(600.0)
    discharge = cc(cell, -rate * params.one_c_A, params.v_min, step_for(rate))
    cell.rest(600.0)
    return mah_g(params, charge), mah_g(params, discharge)


@pytest.mark.parametrize(
    ("rate", "reported"), [(0.1, 200.0), (1.0, 169.6), (2.0, 138.3), (3.0, 103.1)]
)
def test_gao_llzo_rate_capability(rate: float, reported: float) -> None:
    params = load_preset("gao2025-dfncm-llzo")
    assert discharge_capacity(params, rate) == pytest.approx(reported, rel=0.03)


def test_gao_bare_dfncm_matches_llzo_at_low_rate_and_falls_behind_at_high_rate() -> None:
    llzo, bare = load_preset("gao2025-dfncm-llzo"), load_preset("gao2025-dfncm")
    assert discharge_capacity(bare, 0.5) == pytest.approx(discharge_capacity(llzo, 0.5), rel=0.03)
    for rate in (1.0, 2.0, 3.0):
        assert discharge_capacity(bare, rate) < 0.98 * discharge_capacity(llzo, rate)


@pytest.mark.parametrize(
    ("name", "reported"), [("gao2025-dfncm-llzo", 0.9225), ("gao2025-dfncm", 0.9047)]
)
def test_gao_first_cycle_coulombic_efficiency_at_0_1c(name: str, reported: float) -> None:
    params = load_preset(name)
    charge, discharge = cycle(Cell(params), params, 0.1)
    assert discharge / charge == pytest.approx(reported, abs=0.01)
    assert discharge == pytest.approx(200.0, rel=0.03)


@pytest.mark.parametrize(
    ("name", "reported"), [("gao2025-dfncm-llzo", 0.937), ("gao2025-dfncm", 0.857)]
)
def test_gao_retention_after_100_cycles_at_0_5c(name: str, reported: float) -> None:
    params = load_preset(name)
    cell = Cell(params)
    capacities = [cycle(cell, params, 0.5)[1] for _ in range(100)]
    assert capacities[-1] / capacities[0] == pytest.approx(reported, abs=0.02)


def test_kim_model4_first_cycle_at_60c_and_15mpa() -> None:
    params = load_preset("kim2025-model4-85wt")
    cell = Cell(params, temperature_degC=60.0, pressure_MPa=15.0)
    _, discharge = cycle(cell, params, 0.05)
    assert discharge == pytest.approx(198.88, rel=0.03)


def test_kim_capacity_falls_with_stack_pressure_and_temperature() -> None:
    params = load_preset("kim2025-model4-85wt")
    at = {p: discharge_capacity(params, 0.2, pressure_MPa=p) for p in (15.0, 5.0, 1.0)}
    assert at[15.0] > at[5.0] > at[1.0]
    assert at[1.0] < 0.8 * at[15.0]
    cold = discharge_capacity(params, 0.2, pressure_MPa=15.0, temperature_degC=30.0)
    assert cold < at[15.0]


def test_ye_pvdf_rate_capability_at_2c() -> None:
    params = load_preset("ye2025-ncm-pvdf")
    assert discharge_capacity(params, 2.0) == pytest.approx(100.0, rel=0.03)
    assert discharge_capacity(params, 0.1) > 170.0
