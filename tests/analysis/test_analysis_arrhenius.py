"""Arrhenius: Ea from the Rct of VT-EIS fits on the cell model, and σ/σT forms on conductivity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocols.analysis import AnalysisError, arrhenius, fit_spectrum
from simulators.cell import Cell, load_preset

FREQUENCIES = np.logspace(6, -1, 71)
TEMPERATURES = np.array([25.0, 35.0, 45.0, 55.0, 65.0])
GAS_CONSTANT = 8.314462618
BOLTZMANN_EV = 8.617333262e-5


def vt_eis_rct(params, temperatures=TEMPERATURES, seed: int = 2) -> list[float]:
    cell = Cell(params, soc=0.5, seed=seed, pressure_MPa=params.P_ref_MPa)
    rct = []
    for t in temperatures:
        cell.set_temperature(float(t))
        z = cell.measured_impedance(FREQUENCIES)
        rct.append(fit_spectrum(FREQUENCIES, z.real, z.imag).Rct_ohm)
    return rct


@pytest.mark.parametrize("ea", [None, 55.0], ids=["preset-Ea", "Ea-overridden"])
def test_vt_eis_recovers_the_charge_transfer_activation_energy(ea: float | None) -> None:
    params = load_preset("gao2025-dfncm-llzo")
    if ea is not None:
        params = params.with_overrides({"Ea_ct_kJ_mol": ea})
    result = arrhenius(TEMPERATURES, vt_eis_rct(params), form="rct")
    assert result.Ea_kJ_mol == pytest.approx(params.Ea_ct_kJ_mol, rel=0.05)
    low, high = result.Ea_ci_kJ_mol
    assert low < result.Ea_kJ_mol < high and high - low < 0.1 * result.Ea_kJ_mol
    assert result.Ea_eV == pytest.approx(result.Ea_kJ_mol / 96.485, rel=1e-4)
    assert result.r_squared > 0.999
    assert "ln(1/Rct)" in result.description and "K⁻¹" in result.description
    # the fit reproduces Rct at the reference temperature (25 °C, SOC 0.5 → the preset's Rct)
    assert result.predict([25.0])[0] == pytest.approx(params.Rct_ohm, rel=0.03)


def test_conductivity_forms_on_ye2025_like_data() -> None:
    """0.61 → 1.59 mS/cm over 30–80 °C (ye2025): Ea ≈ 0.18 eV, σT form ≈ R·T̄ higher."""
    temps = np.array([30.0, 40.0, 50.0, 60.0, 70.0, 80.0])
    t_k = temps + 273.15
    ea_ev = math.log(1.59 / 0.61) * BOLTZMANN_EV / (1 / t_k[0] - 1 / t_k[-1])
    sigma = 0.61 * np.exp(-ea_ev / BOLTZMANN_EV * (1 / t_k - 1 / t_k[0]))
    noisy = sigma * (1 + 0.005 * np.random.default_rng(0).standard_normal(temps.size))
    plain = arrhenius(temps, noisy, form="sigma")
    assert plain.Ea_eV == pytest.approx(0.18, abs=0.01)
    assert plain.Ea_eV == pytest.approx(ea_ev, rel=0.05)
    assert plain.Ea_ci_eV[0] < ea_ev < plain.Ea_ci_eV[1]
    assert plain.prefactor_unit == "σ's unit"
    times_t = arrhenius(temps, noisy, form="sigmaT")
    mean_rt = GAS_CONSTANT * float(np.mean(t_k)) / 1000.0
    assert times_t.Ea_kJ_mol - plain.Ea_kJ_mol == pytest.approx(mean_rt, rel=0.05)
    assert "ln(σ·T)" in times_t.description
    assert times_t.predict(temps) == pytest.approx(noisy, rel=0.02)


def test_the_slope_is_against_1_over_T_in_kelvin() -> None:
    """The 1000/T pitfall: the slope is per 1/T (K); the 1000/T slope is reported separately."""
    temps = np.array([20.0, 40.0, 60.0])
    rct = 10.0 * np.exp(30_000 / GAS_CONSTANT * (1 / (temps + 273.15) - 1 / 293.15))
    result = arrhenius(temps, rct)
    assert result.Ea_kJ_mol == pytest.approx(30.0, rel=1e-9)
    assert result.slope_K == pytest.approx(-30_000 / GAS_CONSTANT, rel=1e-9)
    assert result.slope_per_1000_over_T == pytest.approx(result.slope_K / 1000, rel=1e-12)
    assert result.inverse_T_per_K[0] == pytest.approx(1 / 293.15)
    assert result.as_dict()["slope_per_1000_over_T"] == result.slope_per_1000_over_T


def test_bad_input_gets_one_sentence() -> None:
    with pytest.raises(AnalysisError, match="look like kelvin"):
        arrhenius([303.15, 313.15, 323.15], [1.0, 2.0, 3.0])
    with pytest.raises(AnalysisError, match="at least 3"):
        arrhenius([30, 40], [1.0, 2.0])
    with pytest.raises(AnalysisError, match="positive"):
        arrhenius([30, 40, 50], [1.0, -2.0, 3.0])
    with pytest.raises(AnalysisError, match="one value per temperature"):
        arrhenius([30, 40, 50], [1.0, 2.0])
    with pytest.raises(AnalysisError, match="not one of"):
        arrhenius([30, 40, 50], [1.0, 2.0, 3.0], form="sigmat")  # type: ignore[arg-type]
