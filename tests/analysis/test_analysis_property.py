"""For any physically sensible cell, GITT recovers its D and VT-EIS recovers its Ea."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_sim import gitt
from cell_strategies import CELL_PARAMETERS
from hypothesis import HealthCheck, given, settings

from protocols.analysis import analyze_gitt, arrhenius, fit_spectrum
from simulators.cell import Cell, load_preset

BASE = load_preset("gao2025-dfncm-llzo")
FREQUENCIES = np.logspace(6, -1, 57)  # 8 per decade keeps the example fast
TEMPERATURES = [25.0, 45.0, 65.0]


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(**CELL_PARAMETERS)
def test_gitt_and_vt_eis_recover_the_cells_own_parameters(
    d: float, ea: float, rct: float, capacity: float
) -> None:
    params = BASE.with_overrides(
        {"D_cm2_s": d, "Ea_ct_kJ_mol": ea, "Rct_ohm": rct, "specific_capacity_mAh_g": capacity}
    )
    cell = Cell(params, soc=0.4, seed=11)
    truth = cell.truth()
    l2d = truth["L2_over_D_s"]
    # the planned pulse: τ = 0.02 L²/D, current scaled so the surface swing stays ~ the same
    samples = gitt(
        cell,
        current_A=0.5 * params.one_c_A * d / BASE.D_cm2_s,
        tau_s=0.02 * l2d,
        rest_s=3.0 * l2d,
        pulses=3,
        seed=11,
    )
    result = analyze_gitt(samples, diffusion_length_cm=truth["diffusion_length_um"] * 1e-4)
    assert result.valid_pulses
    for pulse in result.valid_pulses:
        assert pulse.D_cm2_s == pytest.approx(d, rel=0.25)

    eis_cell = Cell(params, soc=0.5, seed=12)
    rct_fitted = []
    for t in TEMPERATURES:
        eis_cell.set_temperature(t)
        z = eis_cell.measured_impedance(FREQUENCIES)
        rct_fitted.append(fit_spectrum(FREQUENCIES, z.real, z.imag).Rct_ohm)
    fit = arrhenius(TEMPERATURES, rct_fitted, form="rct")
    assert fit.Ea_kJ_mol == pytest.approx(ea, rel=0.05)
