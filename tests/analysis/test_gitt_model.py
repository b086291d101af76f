"""The exact diffusion solution the GITT fit uses, checked against an independent solver, and
the model fit on titrations of the real cell model across D and SOC."""

from __future__ import annotations

import numpy as np
import pytest
from test_analysis_gitt import PRESET, analyse, titration

from protocols.analysis.gitt_model import pulse_response_s, weppner_huggins_bias
from simulators.cell import load_preset
from simulators.cell.diffusion import SphericalDiffusion

L_CM = 37.9e-4
D = 1.43e-8


def test_the_sphere_solution_matches_a_finite_volume_sphere() -> None:
    # the simulator's shells (exact modal integration of a finite-volume sphere) are a
    # different method: they agree with the series / short-time solution within 0.5 %
    sphere = SphericalDiffusion()
    radius = 3 * L_CM
    sphere.set_rate(D / radius**2)
    sphere.set_uniform(0.5)
    u, tau, dt = 1e-4, 20.0, 0.5
    times, surface = [], []
    for k in range(1, 6001):
        flux = u if k * dt <= tau else 0.0
        sphere.step(dt, flux)
        times.append(k * dt)
        surface.append(sphere.surface(flux) - 0.5)
    model = u * pulse_response_s(np.array(times), tau, D, L_CM, "sphere")
    assert np.max(np.abs(np.array(surface) - model)) < 5e-3 * np.max(np.abs(model))
    # after the pulse the surface relaxes to the mean, u·τ
    assert model[-1] == pytest.approx(u * tau, rel=1e-3)


@pytest.mark.parametrize(("ratio", "low", "high"), [(0.02, -0.14, -0.10), (0.07, -0.25, -0.19)])
def test_weppner_huggins_is_biased_low_on_spheres_and_not_on_slabs(ratio, low, high) -> None:
    tau = ratio * L_CM**2 / D
    times = np.arange(1, 21) * tau / 20
    assert low < weppner_huggins_bias(times, tau, D, L_CM, "sphere", (0.2, 1.0)) < high
    assert weppner_huggins_bias(times, tau, D, L_CM, "planar", (0.2, 1.0)) == pytest.approx(
        0.0, abs=1e-3
    )


@pytest.mark.parametrize("scale", [1.0, 0.2, 5.0], ids=["preset-D", "D-5x-lower", "D-5x-higher"])
def test_the_model_fit_reads_d_within_10_percent_and_states_the_wh_bias(scale: float) -> None:
    base = load_preset(PRESET)
    params = base.with_overrides({"D_cm2_s": base.D_cm2_s * scale})
    samples, truth = titration(params)
    result = analyse(samples, truth, params)
    assert len(result.model_valid_pulses) == 8
    for pulse in result.model_valid_pulses:
        assert pulse.D_model_cm2_s == pytest.approx(truth["D_cm2_s"], rel=0.1)
        assert -0.15 < pulse.wh_bias < -0.09  # τ·D/L² = 0.02 on spheres
        assert pulse.D_cm2_s == pytest.approx(truth["D_cm2_s"] * (1 + pulse.wh_bias), rel=0.15)


def test_pulses_in_the_ocv_tail_are_flagged_with_their_reason(monkeypatch) -> None:
    # below SOC 0.1 E(x) bends over the composition a pulse's surface sweeps: Weppner–Huggins
    # reads D 1.5× high there; no such pulse may pass
    import test_analysis_gitt

    monkeypatch.setattr(test_analysis_gitt, "START_SOC", 0.05)
    params = load_preset(PRESET)
    samples, truth = titration(params, rest_fraction=6.0)
    result = analyse(samples, truth, params)
    assert not result.valid_pulses
    for pulse in result.pulses:
        assert pulse.D_cm2_s > 1.3 * truth["D_cm2_s"]
        assert any("does not fit" in r or "not linear" in r for r in pulse.reasons)
