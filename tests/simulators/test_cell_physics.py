"""Physics of the simulated cell: capacity, signs, conservation, integration, GITT, T, P, faults."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.cell import Cell, CellParameters, arrhenius_factor, list_presets, load_preset
from simulators.errors import SimulatorError

GAS_CONSTANT = 8.314462618


def cc_to_limit(cell: Cell, current: float, limit: float, dt: float) -> float:
    """Constant current until the voltage crosses `limit`; returns the charge passed (Ah).

    The crossing time inside the last step is interpolated linearly, so the result does not
    depend on how coarse dt is.
    """
    charge = 0.0
    previous = cell.voltage(current)
    for _ in range(2_000_000):
        voltage = cell.step(dt, current)
        crossed = voltage >= limit if current > 0 else voltage <= limit
        if crossed:
            fraction = (limit - previous) / (voltage - previous) if voltage != previous else 1.0
            return (charge + abs(current) * dt * min(max(fraction, 0.0), 1.0)) / 3600.0
        charge += abs(current) * dt
        previous = voltage
    raise AssertionError("voltage limit never reached")


@pytest.fixture(scope="module")
def gao() -> CellParameters:
    return load_preset("gao2025-dfncm-llzo")


@pytest.mark.parametrize("name", list_presets("ncm-half-cell"))
def test_low_rate_discharge_capacity_is_specific_capacity_times_mass(name: str) -> None:
    params = load_preset(name)
    cell = Cell(params, soc=1.0, pressure_MPa=params.P_ref_MPa)
    dt = 3600.0 / 0.02 / 3000.0
    delivered = cc_to_limit(cell, -0.02 * params.one_c_A, params.v_min, dt)
    expected = params.specific_capacity_mAh_g * params.active_mass_g / 1000.0
    assert delivered == pytest.approx(expected, rel=0.015)
    faded = expected * (1.0 - params.fade_per_cycle * cell.cycle_count)
    assert cell.capacity_Ah == pytest.approx(faded, rel=1e-9)


def test_low_rate_charge_fills_the_window(gao: CellParameters) -> None:
    cell = Cell(gao.with_overrides({"first_charge_side_current_mA_g": 0.0}), soc=0.0)
    stored = cc_to_limit(cell, 0.02 * gao.one_c_A, gao.v_max, 60.0)
    assert stored == pytest.approx(gao.capacity_Ah, rel=0.015)
    assert cell.soc == pytest.approx(1.0, abs=0.015)


def test_sign_convention_charge_raises_voltage_and_soc(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    ocv = cell.ocv()
    assert cell.voltage(0.0) == pytest.approx(ocv, abs=1e-9)
    v_charge = cell.step(10.0, +gao.one_c_A)
    assert v_charge > ocv and cell.soc > 0.5
    cell = Cell(gao, soc=0.5)
    v_discharge = cell.step(10.0, -gao.one_c_A)
    assert v_discharge < ocv and cell.soc < 0.5


def test_instant_voltage_jumps_by_the_ohmic_drop_only(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    truth = cell.truth()
    current = gao.one_c_A
    jump = cell.instant_voltage(current) - cell.voltage(0.0)
    assert jump == pytest.approx(current * truth["Rs_ohm"], rel=0.01)
    settled = cell.voltage(current) - cell.voltage(0.0)
    assert settled > current * (truth["Rs_ohm"] + truth["R_film_ohm"])
    v_after = cell.step(0.2, current)  # 0.2 s ≫ R_ct·C_dl: the interface has charged
    assert v_after == pytest.approx(cell.voltage(current), abs=1e-4)


def test_potentiostatic_hold_solved_on_voltage_is_stable(gao: CellParameters) -> None:
    """A controller that solves V(I) = target each step (as a potentiostat firmware does)."""
    cell = Cell(gao, soc=0.85)
    target = gao.v_max
    currents = []
    for _ in range(2000):
        lo, hi = -5 * gao.one_c_A, 5 * gao.one_c_A
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cell.voltage(mid) < target else (lo, mid)
        currents.append(lo)
        voltage = cell.step(1.5, lo)
        assert abs(voltage - target) < 0.02
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(currents[5:]))
    assert currents[-1] < 0.1 * currents[0]
    assert cell.soc > 0.97


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.0, 1.0),
    st.lists(st.tuples(st.floats(0.001, 600.0), st.floats(-3.0, 3.0)), max_size=12),
)
def test_voltage_rises_monotonically_with_current(soc: float, history: list) -> None:
    """Whatever the state, V(I) must rise with I so that a controller can solve V(I) = target."""
    params = load_preset("gao2025-dfncm-llzo")
    cell = Cell(params, soc=soc)
    for dt, c_rate in history:
        cell.step(dt, c_rate * params.one_c_A)
    currents = np.linspace(-5.0, 5.0, 201) * params.one_c_A
    volts = np.array([cell.voltage(float(i)) for i in currents])
    assert np.all(np.diff(volts) > 0.0)


def test_initial_state_is_discharged(gao: CellParameters) -> None:
    cell = Cell(gao)
    assert cell.soc == pytest.approx(0.0, abs=1e-12)
    assert cell.ocv() == pytest.approx(gao.v_min, abs=1e-9)
    assert cell.step(1.0, -0.1 * gao.one_c_A) < gao.v_min  # nothing left to discharge


def test_pushing_past_the_window_drives_the_voltage_past_the_limits(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.98)
    volts = [cell.step(30.0, gao.one_c_A) for _ in range(240)]
    assert max(volts) > gao.v_max + 0.2
    cell = Cell(gao, soc=0.02)
    volts = [cell.step(30.0, -gao.one_c_A) for _ in range(240)]
    assert min(volts) < gao.v_min - 0.2


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.001, 60.0), st.floats(-2.0, 2.0)),
        min_size=1,
        max_size=40,
    )
)
def test_charge_is_conserved(steps: list[tuple[float, float]]) -> None:
    params = load_preset("gao2025-dfncm-llzo").with_overrides(
        {"fade_per_cycle": 0.0, "first_charge_side_current_mA_g": 0.0}
    )
    cell = Cell(params, soc=0.5)
    passed = 0.0
    for dt, c_rate in steps:
        cell.step(dt, c_rate * params.one_c_A)
        passed += dt * c_rate * params.one_c_A
    assert (cell.soc - 0.5) * cell.capacity_Ah * 3600.0 == pytest.approx(
        passed, rel=1e-9, abs=1e-12
    )
    assert cell.cycle_count == pytest.approx(
        sum(dt * abs(c) * params.one_c_A for dt, c in steps) / (2 * params.capacity_Ah * 3600)
    )


def test_first_charge_side_reaction_carries_charge_but_no_lithium(gao: CellParameters) -> None:
    cell = Cell(gao.with_overrides({"fade_per_cycle": 0.0}), soc=0.0)
    current = 0.1 * gao.one_c_A
    cell.step(3600.0, current)
    side = gao.first_charge_side_current_mA_g * gao.active_mass_g / 1000.0
    assert cell.soc * cell.capacity_Ah == pytest.approx((current - side) * 1.0, rel=1e-6)
    cell.step(600.0, -current)  # the first discharge ends the formation charge
    before = cell.soc
    cell.step(3600.0, current)
    assert (cell.soc - before) * cell.capacity_Ah == pytest.approx(current, rel=1e-3)


@pytest.mark.parametrize("rate", [0.5, 1.0])
def test_coarse_and_fine_steps_give_the_same_capacity(gao: CellParameters, rate: float) -> None:
    current = -rate * gao.one_c_A
    coarse = cc_to_limit(Cell(gao, soc=1.0), current, gao.v_min, 60.0)
    fine = cc_to_limit(Cell(gao, soc=1.0), current, gao.v_min, 0.1)
    assert coarse == pytest.approx(fine, rel=0.005)


def test_coarse_and_fine_steps_follow_the_same_voltage_path(gao: CellParameters) -> None:
    """At 2C, past the Eq. 2 limiting current, the state itself must not depend on dt."""
    current = -2.0 * gao.one_c_A
    coarse, fine = Cell(gao, soc=1.0), Cell(gao, soc=1.0)
    for _ in range(20):  # 20 minutes, most of the 2C discharge
        v_coarse = coarse.step(60.0, current)
        for _ in range(600):
            v_fine = fine.step(0.1, current)
        assert v_coarse == pytest.approx(v_fine, abs=2e-3)
    assert coarse.soc == pytest.approx(fine.soc, abs=1e-5)  # fade moves Q within a step


def test_rest_after_a_pulse_relaxes_to_the_ocv_of_the_mean_soc(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    cell.step(600.0, -gao.one_c_A)
    v_loaded_rest = cell.step(0.1, 0.0)
    relaxed = cell.step(50_000.0, 0.0)
    assert relaxed == pytest.approx(cell.ocv(), abs=2e-4)
    assert v_loaded_rest < relaxed  # recovering upward after a discharge pulse
    assert cell.surface_soc == pytest.approx(cell.soc, abs=1e-4)


def weppner_huggins(cell: Cell, current: float, tau: float, length_um: float) -> float:
    """Run one GITT pulse on the bare cell and apply D = 4L²/(πτ)·(ΔEs/ΔEt)²."""
    e1 = cell.step(1.0, 0.0)
    times, volts = [], []
    n = 400
    dt = tau / n
    for k in range(1, n + 1):
        volts.append(cell.step(dt, current))
        times.append(k * dt)
    t = np.asarray(times)
    v = np.asarray(volts)
    window = t >= tau / 5.0
    _, intercept = np.polyfit(np.sqrt(t[window]), v[window], 1)
    e2 = intercept  # potential just after the IR jump (√t extrapolation)
    e3 = v[-1]
    rest = 40.0 * (3 * length_um * 1e-4) ** 2 / cell.truth()["D_cm2_s"] / math.pi**2
    e4 = cell.step(rest, 0.0)
    delta_s, delta_t = e4 - e1, e3 - e2
    length_cm = length_um * 1e-4
    return 4.0 * length_cm**2 / (math.pi * tau) * (delta_s / delta_t) ** 2


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("gao2025-dfncm-llzo", {}),
        ("gao2025-dfncm", {}),
        ("kim2025-model4-85wt", {}),
        ("ye2025-ncm-pvdf", {}),
        ("gao2025-dfncm-llzo", {"D_cm2_s": 2.0e-9}),  # any D, not only the paper's
        ("gao2025-dfncm-llzo", {"D_cm2_s": 6.0e-8, "diffusion_length_um": 20.0}),
    ],
)
def test_gitt_pulse_satisfies_weppner_huggins(name: str, overrides: dict[str, float]) -> None:
    params = load_preset(name).with_overrides(overrides)
    cell = Cell(params, soc=0.5, pressure_MPa=params.P_ref_MPa)
    truth = cell.truth()
    tau = 0.03 * truth["L2_over_D_s"]  # τ ≪ L²/D
    d = weppner_huggins(cell, 0.1 * params.one_c_A, tau, truth["diffusion_length_um"])
    assert d == pytest.approx(truth["D_cm2_s"], rel=0.25)


def test_weppner_huggins_fails_when_the_pulse_is_too_long(gao: CellParameters) -> None:
    """The check the GITT analysis must flag: τ ≈ L²/D gives a wrong D."""
    cell = Cell(gao, soc=0.5)
    truth = cell.truth()
    d = weppner_huggins(
        cell, 0.1 * gao.one_c_A, 2.0 * truth["L2_over_D_s"], truth["diffusion_length_um"]
    )
    assert abs(d / truth["D_cm2_s"] - 1.0) > 0.3


@pytest.mark.parametrize("name", ["gao2025-dfncm-llzo", "gao2025-dfncm"])
def test_charge_transfer_resistance_follows_arrhenius(name: str) -> None:
    params = load_preset(name)
    cell = Cell(params, soc=0.5)
    temps = np.array([10.0, 25.0, 40.0, 55.0])
    rct = []
    for t in temps:
        cell.set_temperature(float(t))
        rct.append(cell.truth()["Rct_ohm"])
    slope = np.polyfit(1.0 / (temps + 273.15), np.log(1.0 / np.asarray(rct)), 1)[0]
    assert -GAS_CONSTANT * slope / 1000.0 == pytest.approx(params.Ea_ct_kJ_mol, rel=1e-6)
    cell.set_temperature(params.T_ref_degC)
    assert cell.truth()["Rct_ohm"] == pytest.approx(params.Rct_ohm, rel=1e-9)


def test_diffusion_follows_arrhenius_and_cold_cells_deliver_less(gao: CellParameters) -> None:
    warm, cold = Cell(gao, soc=1.0), Cell(gao, soc=1.0, temperature_degC=0.0)
    expected = gao.D_cm2_s * arrhenius_factor(gao.Ea_D_kJ_mol, 273.15, 298.15)
    assert cold.truth()["D_cm2_s"] == pytest.approx(expected, rel=1e-9)
    q_warm = cc_to_limit(warm, -gao.one_c_A, gao.v_min, 10.0)
    q_cold = cc_to_limit(cold, -gao.one_c_A, gao.v_min, 10.0)
    assert q_cold < 0.9 * q_warm


def test_lower_stack_pressure_raises_resistance_and_lowers_capacity() -> None:
    params = load_preset("kim2025-model4-85wt")
    pressed = Cell(params, soc=1.0, pressure_MPa=15.0)
    loose = Cell(params, soc=1.0, pressure_MPa=2.0)
    assert loose.truth()["R_contact_ohm"] > 3 * pressed.truth()["R_contact_ohm"]
    f = np.array([1e6])
    assert loose.impedance(f)[0].real > pressed.impedance(f)[0].real
    rate = -0.2 * params.one_c_A
    assert cc_to_limit(loose, rate, params.v_min, 30.0) < 0.9 * cc_to_limit(
        pressed, rate, params.v_min, 30.0
    )
    pressed.set_pressure(2.0)  # releasing the rig mid-test acts at once
    assert pressed.truth()["R_contact_ohm"] == pytest.approx(loose.truth()["R_contact_ohm"])


def test_liquid_cell_ignores_stack_pressure(gao: CellParameters) -> None:
    assert Cell(gao, pressure_MPa=0.0).truth()["R_contact_ohm"] == 0.0
    assert Cell(gao, pressure_MPa=0.0).capacity_Ah == Cell(gao, pressure_MPa=5.0).capacity_Ah


def test_thick_electrode_limit_follows_equation_2(gao: CellParameters) -> None:
    """Above the limiting current the delivered capacity scales as Q0·I_lim/I, with the porous
    electrode's limiting current: the reaction spread through the thickness makes the salt
    profile parabolic, half the planar drop, so twice the planar Eq. 2 current."""
    easy = gao.with_overrides({"D_cm2_s": 1e-5})  # take solid diffusion out of the way
    cell = Cell(easy, soc=1.0)
    i_lim = cell.truth()["limiting_current_A"]
    eps, tau, h = easy.porosity, easy.tortuosity, easy.thickness_um * 1e-4
    expected_i_lim = (
        2.0
        * easy.area_cm2
        * eps
        / (h * tau)
        * easy.electrolyte_D0_cm2_s
        * easy.electrolyte_C0_mol_L
        * 1e-3
        * 96485.33212
        / (1 - easy.electrolyte_t_plus)
    )
    assert i_lim == pytest.approx(expected_i_lim, rel=1e-9)
    for factor in (2.0, 3.0):
        q = cc_to_limit(Cell(easy, soc=1.0), -factor * i_lim, easy.v_min, 0.5)
        assert q == pytest.approx(easy.capacity_Ah / factor, rel=0.06)
    thick = easy.with_overrides({"thickness_um": 2 * easy.thickness_um})
    assert Cell(thick).truth()["limiting_current_A"] == pytest.approx(i_lim / 2)


def test_electrolyte_time_constant_counts_porosity_once(gao: CellParameters) -> None:
    # D_eff = ε·D0/τ acting on a pore volume ε: τ_e = ε·h²/D_eff = h²·τ/D0, whatever ε is
    h = gao.thickness_um * 1e-4
    expected = h**2 * gao.tortuosity / gao.electrolyte_D0_cm2_s
    for porosity in (0.2, 0.3, 0.5):
        cell = Cell(gao.with_overrides({"porosity": porosity}))
        assert cell.truth()["electrolyte_time_constant_s"] == pytest.approx(expected, rel=1e-12)


def test_fade_and_resistance_growth_follow_equivalent_cycles(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.0)
    rct0 = cell.truth()["Rct_ohm"]
    for _ in range(10):
        cc_to_limit(cell, gao.one_c_A, gao.v_max, 30.0)
        cc_to_limit(cell, -gao.one_c_A, gao.v_min, 30.0)
    n = cell.cycle_count
    assert 5.0 < n < 10.0
    assert cell.capacity_Ah == pytest.approx(
        gao.capacity_Ah * (1 - gao.fade_per_cycle * n), rel=1e-9
    )
    cell.set_soc(0.0)
    assert cell.truth()["Rct_ohm"] == pytest.approx(
        rct0 * (1 + gao.resistance_growth_per_cycle * n), rel=1e-9
    )


def test_open_circuit_fault_rails_the_voltage_and_stops_current(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    soc = cell.soc
    cell.open()
    assert cell.step(10.0, 1e-3) == pytest.approx(gao.rail_V)
    assert cell.step(10.0, -1e-3) == pytest.approx(-gao.rail_V)
    assert cell.voltage(0.0) == pytest.approx(cell.ocv(), abs=1e-3)
    assert cell.soc == pytest.approx(soc, abs=1e-12)
    cell.reset_faults()
    assert 3.5 < cell.step(1.0, 1e-3) < 4.2


def test_short_fault_pulls_the_voltage_to_zero(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    cell.short()
    assert abs(cell.step(1.0, 0.0)) < 0.01
    assert abs(cell.step(1.0, -gao.one_c_A)) < 0.01
    assert abs(cell.measured_voltage(0.0)) < 0.01
    cell.reset_faults()
    assert cell.voltage(0.0) > 3.5


def test_measured_voltage_noise_is_seeded_and_sized(gao: CellParameters) -> None:
    a, b = Cell(gao, soc=0.5, seed=7), Cell(gao, soc=0.5, seed=7)
    xs = np.array([a.measured_voltage(0.0) for _ in range(4000)])
    ys = np.array([b.measured_voltage(0.0) for _ in range(4000)])
    assert np.array_equal(xs, ys)
    assert xs.std() == pytest.approx(gao.noise_V, rel=0.1)
    assert xs.mean() == pytest.approx(a.voltage(0.0), abs=5 * gao.noise_V / math.sqrt(4000))


def test_bad_inputs_are_refused_with_a_sentence(gao: CellParameters) -> None:
    cell = Cell(gao)
    with pytest.raises(SimulatorError, match="time step"):
        cell.step(-1.0, 0.0)
    with pytest.raises(SimulatorError, match="not a finite number"):
        cell.step(1.0, math.nan)
    with pytest.raises(SimulatorError, match="temperature"):
        cell.set_temperature(1000.0)
    with pytest.raises(SimulatorError, match="pressure"):
        cell.set_pressure(-1.0)
    with pytest.raises(SimulatorError, match="SOC"):
        Cell(gao, soc=1.5)


def test_stepping_is_fast(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    current = 0.2 * gao.one_c_A
    start = time.perf_counter()
    for k in range(20_000):
        cell.step(0.5, current if (k // 500) % 2 else -current)
    per_step = (time.perf_counter() - start) / 20_000
    assert per_step < 100e-6  # target is ~15 µs; the bound leaves room for slow CI machines
