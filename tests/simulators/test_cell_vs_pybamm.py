"""The cell model against an independent one: PyBaMM's half-cell SPM with the same physics.

Both models get the same OCV, solid diffusivity, particle radius, capacity and exchange
current; the cell model's extra elements (series and film resistance, contact resistance,
electrolyte depletion, side reactions, fade) are switched off, as SPM has none of them.

The mapping (cell model → PyBaMM, SI units, PyBaMM's current positive on discharge):
- sphere radius 3L (`particle_radius_um`) → "Positive particle radius [m]";
- D (cm²/s) × 1e-4 → "Positive particle diffusivity [m2.s-1]";
- the cell's SOC θ (delithiation within the window) is the stoichiometry
  x = x_dis − θ·(x_dis − x_chg) (`li_fraction_discharged/charged`), and the OCP is the cell's
  OCV curve tabulated against x;
- capacity Q = F·c_max·ε_s·A·h·(x_dis − x_chg) fixes c_max for the preset's area A and
  thickness h (any ε_s: 0.5 here);
- exchange current: the model's total i0 = √(x(1−x)) / (f·Rct·√(x_mid(1−x_mid))) A over the
  particles' surface a·A·h (a = 3ε_s/R) → "Positive electrode exchange-current density";
  both use symmetric Butler–Volmer (α = 0.5);
- the lithium counter electrode: an exchange current so large that it never polarises;
- 25 °C, the presets' reference temperature.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from simulators.cell import Cell, load_preset
from simulators.cell.ocv import OCVCurve

pybamm = pytest.importorskip("pybamm")

FARADAY = 96485.33212
GAS_CONSTANT = 8.314462618
T_K = 298.15
PRESET = "gao2025-dfncm-llzo"
SPM_ONLY = {
    "Rs_ohm": 0.0,
    "R_film_ohm": 0.0,
    "R_contact_ohm": 0.0,
    "electrolyte_t_plus": 1.0,  # no salt depletion
    "noise_V": 0.0,
    "fade_per_cycle": 0.0,
    "resistance_growth_per_cycle": 0.0,
    "first_charge_side_current_mA_g": 0.0,
}
EPS_S = 0.5


def spm_parameters(p) -> tuple[object, float]:
    """PyBaMM parameter values for the preset's cell, and c_max (mol/m³)."""
    x_dis, x_chg = p.li_fraction_discharged, p.li_fraction_charged
    ocv = OCVCurve(p.v_min, p.v_max, p.ocv_points)
    radius = p.particle_radius_um * 1e-6
    area, thickness = p.area_cm2 * 1e-4, p.thickness_um * 1e-6
    c_max = p.capacity_Ah * 3600 / (FARADAY * EPS_S * area * thickness * (x_dis - x_chg))
    surface = 3 * EPS_S / radius * area * thickness  # m² of particle surface
    x_mid = 0.5 * (x_dis + x_chg)
    f = FARADAY / (GAS_CONSTANT * T_K)
    i0_scale = 1.0 / (f * p.Rct_ohm * math.sqrt(x_mid * (1 - x_mid)) * surface)
    sto = np.linspace(x_chg - 0.02, x_dis + 0.02, 2001)
    volts = ocv.array((x_dis - sto) / (x_dis - x_chg))

    def ocp(s):
        return pybamm.Interpolant(sto, volts, s, name="cell OCV", interpolator="linear")

    def exchange_current(c_e, c_s_surf, c_s_max, T):
        x = c_s_surf / c_s_max
        return i0_scale * (x * (1 - x)) ** 0.5

    values = pybamm.ParameterValues("Xu2019")
    values.update(
        {
            "Positive particle radius [m]": radius,
            "Positive particle diffusivity [m2.s-1]": p.D_cm2_s * 1e-4,
            "Positive electrode OCP [V]": ocp,
            "Positive electrode exchange-current density [A.m-2]": exchange_current,
            "Positive electrode active material volume fraction": EPS_S,
            "Positive electrode thickness [m]": thickness,
            "Electrode width [m]": 1.0,
            "Electrode height [m]": area,
            "Maximum concentration in positive electrode [mol.m-3]": c_max,
            "Exchange-current density for lithium metal electrode [A.m-2]": 1e8,
            "Lower voltage cut-off [V]": 2.5,
            "Upper voltage cut-off [V]": 4.6,
            "Nominal cell capacity [A.h]": p.capacity_Ah,
            "Current function [A]": p.one_c_A,
            "Ambient temperature [K]": T_K,
            "Initial temperature [K]": T_K,
            "Reference temperature [K]": T_K,
            "Number of electrodes connected in parallel to make a cell": 1.0,
        },
        check_already_exists=False,
    )
    return values, c_max


def solve(p, soc: float, steps: list[str]):
    values, c_max = spm_parameters(p)
    x = p.li_fraction_discharged - soc * (p.li_fraction_discharged - p.li_fraction_charged)
    values["Initial concentration in positive electrode [mol.m-3]"] = c_max * x
    model = pybamm.lithium_ion.SPM({"working electrode": "positive"})
    points = {**model.default_var_pts, "r_p": 400}  # fine enough for the first second of a pulse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = pybamm.Simulation(
            model, parameter_values=values, experiment=pybamm.Experiment(steps), var_pts=points
        )
        return sim.solve()


def replay(cell: Cell, times: np.ndarray, currents: np.ndarray) -> np.ndarray:
    """The cell model's voltage at PyBaMM's output times, at PyBaMM's currents (sign flipped:
    positive = charge here). A step boundary repeats a time: the new current starts there."""
    volts, previous = [], 0.0
    for t, current in zip(times, currents, strict=True):
        dt = t - previous
        volts.append(cell.step(dt, current) if dt > 1e-6 else cell.voltage(current))
        previous = t
    return np.asarray(volts)


@pytest.fixture(scope="module")
def params():
    return load_preset(PRESET).with_overrides(SPM_ONLY)


def test_a_gitt_pulse_and_its_relaxation_agree_within_1_mV(params) -> None:
    current = 0.5 * params.one_c_A
    solution = solve(
        params,
        0.5,
        [
            f"Charge at {current} A for 20 seconds (0.5 second period)",
            "Rest for 1 hour (10 second period)",
        ],
    )
    times = solution["Time [s]"].entries
    theirs = solution["Voltage [V]"].entries
    ours = replay(Cell(params, soc=0.5, seed=0), times, -solution["Current [A]"].entries)
    rmse = float(np.sqrt(np.mean((ours - theirs) ** 2)))
    assert rmse < 1e-3
    # the pulse moves the voltage by tens of mV, so agreement is not for want of a signal
    assert np.ptp(theirs) > 0.04


@pytest.mark.parametrize("rate", [1.0, 0.1])
def test_a_discharge_delivers_the_same_capacity_within_1_percent(params, rate: float) -> None:
    current = rate * params.one_c_A
    period = 10 if rate >= 1 else 60
    solution = solve(
        params, 1.0, [f"Discharge at {current} A until 3.0 V ({period} second period)"]
    )
    theirs = float(solution["Discharge capacity [A.h]"].entries[-1])
    cell = Cell(params, soc=1.0, seed=0)
    delivered, dt = 0.0, 1.0
    while cell.step(dt, -current) > 3.0:
        delivered += current * dt / 3600
    delivered += current * dt / 3600
    assert delivered == pytest.approx(theirs, rel=0.01)
    assert delivered > 0.5 * params.capacity_Ah  # a real discharge, not an early cut-off
