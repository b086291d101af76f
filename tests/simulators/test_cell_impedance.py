"""Impedance of the simulated cell: limits, arcs, diffusion, Kramers-Kronig, time-domain match."""

from __future__ import annotations

import math

import numpy as np
import pytest
from impedance.models.circuits import CustomCircuit

from simulators.cell import Cell, CellParameters, load_preset
from simulators.cell.impedance import spherical_diffusion_shape
from simulators.errors import SimulatorError

GAS_CONSTANT = 8.314462618


@pytest.fixture(scope="module")
def gao() -> CellParameters:
    return load_preset("gao2025-dfncm-llzo")


def test_high_frequency_limit_is_the_series_resistance() -> None:
    params = load_preset("kim2025-model4-85wt")
    cell = Cell(params, soc=0.5, pressure_MPa=10.0)
    z = cell.impedance(np.array([1e9]))[0]
    truth = cell.truth()
    assert z.real == pytest.approx(truth["Rs_ohm"] + truth["R_contact_ohm"], rel=1e-3)
    assert abs(z.imag) < 1e-3 * z.real


def test_arcs_sum_to_rs_film_and_rct_before_diffusion(gao: CellParameters) -> None:
    fast = gao.with_overrides({"D_cm2_s": 1e-4})  # push diffusion far below the test band
    cell = Cell(fast, soc=0.5)
    truth = cell.truth()
    z = cell.impedance(np.array([0.05]))[0]
    assert z.real == pytest.approx(
        truth["Rs_ohm"] + truth["R_film_ohm"] + truth["Rct_ohm"], rel=0.01
    )
    # between the two arcs the real part sits near Rs + R_film
    f_between = 1.0 / (
        2
        * math.pi
        * math.sqrt(truth["R_film_ohm"] * fast.C_film_F * truth["Rct_ohm"] * fast.C_dl_F)
    )
    z_mid = cell.impedance(np.array([f_between]))[0]
    assert (
        truth["Rs_ohm"] + 0.8 * truth["R_film_ohm"]
        < z_mid.real
        < truth["Rs_ohm"] + truth["R_film_ohm"] + 0.25 * truth["Rct_ohm"]
    )


def test_spectrum_is_capacitive_and_ends_on_the_intercalation_capacitance(
    gao: CellParameters,
) -> None:
    cell = Cell(gao, soc=0.5)
    f = np.logspace(6, -6, 121)
    z = cell.impedance(f)
    assert np.all(z.imag < 0.0)
    # finite-space diffusion: at very low f the cell is a capacitor C = Q / (dU/dθ)
    slope = cell._ocv.slope(cell.surface_soc)
    c_int = cell.capacity_Ah * 3600.0 / slope
    w = 2 * math.pi * f[-1]
    assert -1.0 / (w * z[-1].imag) == pytest.approx(c_int, rel=0.02)


def test_warburg_region_has_a_45_degree_slope(gao: CellParameters) -> None:
    fast_kinetics = gao.with_overrides({"Rct_ohm": 0.5, "R_film_ohm": 0.1, "C_dl_F": 1e-6})
    cell = Cell(fast_kinetics, soc=0.5)
    truth = cell.truth()
    radius = truth["particle_radius_um"] * 1e-4
    f_diffusion = truth["D_cm2_s"] / radius**2
    f = np.array([300.0, 1000.0]) * f_diffusion
    z = cell.impedance(f) - truth["Rs_ohm"] - truth["R_film_ohm"] - truth["Rct_ohm"]
    phase = np.degrees(np.angle(z))
    assert phase == pytest.approx([-45.0, -45.0], abs=3.0)


def test_diffusion_shape_series_and_closed_form_agree() -> None:
    y_small = np.array([0.0499 + 0.0j, 0.03 * (1 + 1j)])
    y_edge = np.array([0.0501 + 0.0j, 0.0301 * (1 + 1j) * 1.2])
    closed = np.tanh(y_edge) / (y_edge - np.tanh(y_edge))
    assert spherical_diffusion_shape(y_edge) == pytest.approx(closed, rel=1e-6)
    assert np.all(np.isfinite(spherical_diffusion_shape(y_small)))
    big = np.array([1e4 * (1 + 1j)])
    assert spherical_diffusion_shape(big) == pytest.approx(1.0 / (big - 1.0), rel=1e-9)


def lin_kk_residuals(f: np.ndarray, z: np.ndarray, per_decade: int = 6) -> np.ndarray:
    """Relative residuals of a linear Kramers-Kronig fit (Schönleber's Voigt series + R + C).

    Written out here because impedance.py 1.7's linKK builds circuit strings from numpy reprs,
    which numpy 2 prints as `np.float64(...)`, and then fails to evaluate them.
    """
    w = 2 * np.pi * f
    decades = np.log10(f.max() / f.min())
    taus = np.logspace(np.log10(1 / w.max()), np.log10(1 / w.min()), int(decades * per_decade) + 1)
    columns = [np.ones_like(w, dtype=complex)]  # R0
    columns += [1.0 / (1.0 + 1j * w * t) for t in taus]
    columns.append(1.0 / (1j * w))  # series capacitance (as 1/C)
    basis = np.array(columns).T
    weight = 1.0 / np.abs(z)
    a = np.vstack([(basis.real.T * weight).T, (basis.imag.T * weight).T])
    b = np.concatenate([z.real * weight, z.imag * weight])
    coeffs, *_ = np.linalg.lstsq(a, b, rcond=None)
    return (basis @ coeffs - z) / np.abs(z)


@pytest.mark.parametrize("name", ["gao2025-dfncm-llzo", "kim2025-model4-85wt", "ye2025-ncm-pvdf"])
def test_spectrum_passes_kramers_kronig(name: str) -> None:
    params = load_preset(name)
    cell = Cell(params, soc=0.5, pressure_MPa=params.P_ref_MPa)
    f = np.logspace(6, -2, 81)
    residuals = lin_kk_residuals(f, cell.impedance(f))
    assert np.max(np.abs(residuals)) < 0.005
    # a spectrum that breaks causality (a sign flip in part of the band) must fail the same check
    broken = cell.impedance(f)
    broken[40:50] = broken[40:50].conj()
    assert np.max(np.abs(lin_kk_residuals(f, broken))) > 0.02


def test_small_current_step_response_matches_the_impedance_elements(gao: CellParameters) -> None:
    """Time and frequency domains come from the same parameters."""
    cell = Cell(gao.with_overrides({"D_cm2_s": 1e-4}), soc=0.5)
    truth = cell.truth()
    v0 = cell.voltage(0.0)
    step = 1e-5  # A, small signal
    v = cell.step(0.5, step)  # ≫ R_ct·C_dl, ≪ diffusion
    z_dc = cell.impedance(np.array([1e-3]))[0].real
    assert (v - v0) / step == pytest.approx(z_dc, rel=0.02)
    assert z_dc == pytest.approx(truth["Rs_ohm"] + truth["R_film_ohm"] + truth["Rct_ohm"], rel=0.02)


@pytest.mark.parametrize("name", ["gao2025-dfncm-llzo", "gao2025-dfncm"])
def test_variable_temperature_eis_fit_recovers_the_activation_energy(name: str) -> None:
    params = load_preset(name)
    cell = Cell(params, soc=0.5)
    f = np.logspace(6, -1, 50)
    temps = [15.0, 25.0, 35.0, 45.0]
    rct = []
    for t in temps:
        cell.set_temperature(t)
        z = cell.impedance(f)
        circuit = CustomCircuit("R0-p(R1,C1)-p(R2,C2)", initial_guess=[3.0, 8.0, 1e-6, 20.0, 1e-4])
        circuit.fit(f, z, weight_by_modulus=True)
        rct.append(circuit.parameters_[3])
        assert circuit.parameters_[3] == pytest.approx(cell.truth()["Rct_ohm"], rel=0.03)
    inv_t = 1.0 / (np.asarray(temps) + 273.15)
    slope = np.polyfit(inv_t, np.log(1.0 / np.asarray(rct)), 1)[0]
    assert -GAS_CONSTANT * slope / 1000.0 == pytest.approx(params.Ea_ct_kJ_mol, rel=0.03)


def test_measured_impedance_noise_is_relative_and_seeded(gao: CellParameters) -> None:
    f = np.logspace(5, -1, 400)
    a, b = Cell(gao, soc=0.5, seed=3), Cell(gao, soc=0.5, seed=3)
    za, zb = a.measured_impedance(f), b.measured_impedance(f)
    assert np.array_equal(za, zb)
    rel = np.abs(za - a.impedance(f)) / np.abs(a.impedance(f))
    assert np.sqrt(np.mean(rel**2)) == pytest.approx(gao.eis_noise_rel, rel=0.15)


def test_faulted_cells_and_bad_frequencies(gao: CellParameters) -> None:
    cell = Cell(gao, soc=0.5)
    cell.short()
    assert np.all(np.abs(cell.impedance(np.array([1.0, 1e3]))) < 0.01)
    cell.open()
    assert np.all(np.abs(cell.impedance(np.array([1.0, 1e3]))) > 1e9)
    cell.reset_faults()
    with pytest.raises(SimulatorError, match="frequencies"):
        cell.impedance(np.array([0.0, 1.0]))
