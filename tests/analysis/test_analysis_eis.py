"""EIS fit and lin-KK on spectra of the real cell model: Rct must match the model's truth."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.analysis import AnalysisError, fit_spectrum, kramers_kronig
from simulators.cell import Cell, list_presets, load_preset

FREQUENCIES = np.logspace(6, -1, 71)  # 1 MHz to 0.1 Hz, 10 per decade


def spectrum(
    name: str, *, temperature: float | None = None, seed: int = 1
) -> tuple[Cell, np.ndarray]:
    params = load_preset(name)
    cell = Cell(params, soc=0.5, seed=seed, pressure_MPa=params.P_ref_MPa)
    if temperature is not None:
        cell.set_temperature(temperature)
    return cell, cell.measured_impedance(FREQUENCIES)


@pytest.mark.parametrize("name", list_presets("ncm-half-cell"))
def test_fitted_rct_matches_the_model(name: str) -> None:
    cell, z = spectrum(name)
    truth = cell.truth()
    fit = fit_spectrum(FREQUENCIES, z.real, z.imag)
    assert fit.Rct_ohm == pytest.approx(truth["Rct_ohm"], rel=0.10)
    assert 0 < fit.Rct_sigma_ohm < 0.05 * fit.Rct_ohm
    assert fit.Rs_ohm == pytest.approx(truth["Rs_ohm"] + truth["R_contact_ohm"], rel=0.05)
    assert fit.rct_element == "R2" and "diffusion element" in fit.rct_rule
    film = next(arc for arc in fit.arcs if arc.resistor == "R1")
    assert film.R_ohm == pytest.approx(truth["R_film_ohm"], rel=0.10)
    ct = next(arc for arc in fit.arcs if arc.resistor == "R2")
    assert ct.C_eff_F == pytest.approx(truth["C_dl_F"], rel=0.10)
    assert film.f_c_Hz > ct.f_c_Hz
    assert fit.max_relative_residual < 0.02  # noise is 0.2 % of |Z|
    assert np.abs(fit.z_fit() - z).max() < 0.02 * np.abs(z).max()


def test_without_a_diffusion_branch_rct_is_the_slowest_arc() -> None:
    cell, z = spectrum("gao2025-dfncm-llzo")
    fit = fit_spectrum(FREQUENCIES, z.real, z.imag, circuit="R0-p(R1,CPE1)-p(R2,CPE2)-W1")
    assert fit.rct_element == "R2" and "lowest characteristic frequency" in fit.rct_rule
    assert fit.Rct_ohm == pytest.approx(cell.truth()["Rct_ohm"], rel=0.10)


def test_explicit_initial_guess_and_parameter_lookup() -> None:
    cell, z = spectrum("gao2025-dfncm-llzo")
    guess = [2.0, 10.0, 1e-6, 0.9, 30.0, 1.0, 1e-4, 0.9]  # R0, R1, CPE1_0, CPE1_1, R2, W1, CPE2_*
    fit = fit_spectrum(FREQUENCIES, z.real, z.imag, initial_guess=guess)
    assert fit.parameter_names == ("R0", "R1", "CPE1_0", "CPE1_1", "R2", "W1", "CPE2_0", "CPE2_1")
    assert fit.parameter("R2") == pytest.approx(cell.truth()["Rct_ohm"], rel=0.10)
    assert fit.parameter("CPE2_1") == pytest.approx(1.0, abs=0.02)
    data = fit.as_dict()
    assert data["parameters"]["R2"]["unit"] == "Ohm"
    assert data["Rct_ohm"] == fit.Rct_ohm


def test_kk_accepts_the_model_spectrum() -> None:
    for name in list_presets("ncm-half-cell"):
        _, z = spectrum(name)
        result = kramers_kronig(FREQUENCIES, z)
        assert result.accepted, (name, result.max_residual)
        assert result.mu < 0.85 and result.mu_reached
        assert result.max_residual < 0.01


def test_kk_rejects_corrupted_spectra() -> None:
    cell, z = spectrum("gao2025-dfncm-llzo")
    spike = z.copy()
    spike[40] *= 1.03  # one point off by 3 %
    assert not kramers_kronig(FREQUENCIES, spike).accepted
    # the cell warmed by 10 K halfway through the sweep: not one linear, stable system
    cell.set_temperature(35.0)
    warmer = cell.measured_impedance(FREQUENCIES)
    drifted = np.where(FREQUENCIES < 30.0, warmer, z)
    result = kramers_kronig(FREQUENCIES, drifted)
    assert not result.accepted and result.max_residual > 0.01


def test_bad_spectra_get_one_sentence() -> None:
    _, z = spectrum("gao2025-dfncm-llzo")
    with pytest.raises(AnalysisError, match="not −Im Z"):
        fit_spectrum(FREQUENCIES, z.real, -z.imag)
    with pytest.raises(AnalysisError, match="differ in length"):
        fit_spectrum(FREQUENCIES[:-1], z.real, z.imag)
    with pytest.raises(AnalysisError, match="not a valid circuit"):
        fit_spectrum(FREQUENCIES, z.real, z.imag, circuit="R0-p(X1,C1)")
    with pytest.raises(AnalysisError, match="has 3 values"):
        fit_spectrum(FREQUENCIES, z.real, z.imag, initial_guess=[1.0, 2.0, 3.0])
    with pytest.raises(AnalysisError, match="positive"):
        kramers_kronig(-FREQUENCIES, z)
