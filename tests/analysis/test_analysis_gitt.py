"""GITT analysis on titrations run on the real cell model: it must recover the model's true D."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_sim import gitt

from protocols.analysis import AnalysisError, analyze_gitt
from simulators.cell import Cell, CellParameters, load_preset

PRESET = "gao2025-dfncm-llzo"
START_SOC = 0.35


def titration(
    params: CellParameters,
    *,
    tau_fraction: float = 0.02,
    rest_fraction: float = 3.0,
    c_rate: float | None = None,
    pulses: int = 8,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """A GITT from mid SOC; pulse time and current scale with L²/D like a planned procedure.

    The current keeps the surface excursion (∝ I/D at τ ∝ L²/D) the same for any D: 0.5C at
    the preset's own D.
    """
    cell = Cell(params, soc=START_SOC, seed=seed, pressure_MPa=params.P_ref_MPa)
    truth = cell.truth()
    l2d = truth["L2_over_D_s"]
    if c_rate is None:
        c_rate = 0.5 * truth["D_cm2_s"] / load_preset(PRESET).D_cm2_s
    samples = gitt(
        cell,
        current_A=c_rate * params.one_c_A,
        tau_s=tau_fraction * l2d,
        rest_s=rest_fraction * l2d,
        pulses=pulses,
        seed=seed,
    )
    return samples, truth


def analyse(samples: dict[str, np.ndarray], truth: dict[str, float], params: CellParameters, **kw):
    return analyze_gitt(
        samples,
        diffusion_length_cm=truth["diffusion_length_um"] * 1e-4,
        capacity_Ah=params.capacity_Ah,
        initial_soc=START_SOC,
        **kw,
    )


@pytest.mark.parametrize("scale", [1.0, 0.2, 5.0], ids=["preset-D", "D-5x-lower", "D-5x-higher"])
def test_gitt_recovers_the_true_diffusion_coefficient(scale: float) -> None:
    base = load_preset(PRESET)
    params = base.with_overrides({"D_cm2_s": base.D_cm2_s * scale})
    samples, truth = titration(params)
    result = analyse(samples, truth, params)
    assert len(result.pulses) == 8
    assert all(p.valid for p in result.pulses), [p.reasons for p in result.pulses]
    for pulse in result.pulses:
        assert pulse.D_cm2_s == pytest.approx(truth["D_cm2_s"], rel=0.25)
        assert pulse.D_sqrt_cm2_s == pytest.approx(truth["D_cm2_s"], rel=0.25)
        assert pulse.tau_D_over_L2 < 0.1
        assert pulse.fit_r2 > 0.99
    median = np.median([p.D_cm2_s for p in result.pulses])
    assert median == pytest.approx(truth["D_cm2_s"], rel=0.2)


def test_pulse_bookkeeping_follows_the_applied_charge() -> None:
    params = load_preset(PRESET)
    samples, truth = titration(params, pulses=4)
    result = analyse(samples, truth, params)
    tau = 0.02 * truth["L2_over_D_s"]
    current = 0.5 * params.one_c_A
    step_soc = current * tau / 3600.0 / params.capacity_Ah
    for k, pulse in enumerate(result.pulses):
        assert pulse.tau_s == pytest.approx(tau, rel=1e-6)
        assert pulse.current_A == pytest.approx(current, rel=1e-9)
        assert pulse.soc == pytest.approx(START_SOC + (k + 1) * step_soc, rel=1e-6)
        # charging: the relaxed potential rises, the pulse potential rises along √t
        assert pulse.delta_Es_V > 0 and pulse.delta_Et_V > 0
        assert pulse.E4_V > pulse.E1_V and pulse.E3_V > pulse.E2_V > pulse.E1_V
        # the IR step holds the ohmic + film drops and at most the small-signal Rct
        ohmic = truth["Rs_ohm"] + truth["R_film_ohm"]
        assert ohmic < pulse.resistance_ohm < ohmic + truth["Rct_ohm"]
    for later, earlier in zip(result.pulses[1:], result.pulses[:-1], strict=True):
        assert later.E1_V == pytest.approx(earlier.E4_V, abs=1e-12)


def test_discharge_pulses_and_missing_step_time_give_the_same_D() -> None:
    params = load_preset(PRESET)
    cell = Cell(params, soc=0.6, seed=4)
    truth = cell.truth()
    samples = gitt(
        cell,
        current_A=-0.5 * params.one_c_A,
        tau_s=0.02 * truth["L2_over_D_s"],
        rest_s=3.0 * truth["L2_over_D_s"],
        pulses=4,
        seed=4,
    )
    del samples["step_time_s"]  # the pulse start is then the last rest sample's time
    result = analyze_gitt(samples, diffusion_length_cm=truth["diffusion_length_um"] * 1e-4)
    assert all(p.valid for p in result.pulses)
    assert all(p.delta_Es_V < 0 and p.delta_Et_V < 0 for p in result.pulses)
    assert all(p.soc is None and p.charge_Ah < 0 for p in result.pulses)
    for pulse in result.pulses:
        assert pulse.D_cm2_s == pytest.approx(truth["D_cm2_s"], rel=0.25)


def test_ramp_points_are_dropped() -> None:
    params = load_preset(PRESET)
    samples, truth = titration(params, pulses=3)
    clean = analyse(samples, truth, params)
    ramped = {key: value.copy() for key, value in samples.items()}
    current = ramped["current_A"]
    starts = np.flatnonzero((np.abs(current[1:]) > 0) & (current[:-1] == 0)) + 1
    current[starts] *= 0.5  # the first point of each pulse caught the source ramping up
    result = analyse(ramped, truth, params)
    assert len(result.pulses) == 3
    for a, b in zip(clean.pulses, result.pulses, strict=True):
        assert b.D_cm2_s == pytest.approx(a.D_cm2_s, rel=1e-9)


def test_a_pulse_too_long_for_the_diffusion_length_is_flagged() -> None:
    params = load_preset(PRESET)
    samples, truth = titration(params, tau_fraction=2.0, rest_fraction=6.0, c_rate=0.05, pulses=2)
    result = analyse(samples, truth, params)
    assert result.pulses and not result.valid_pulses
    for pulse in result.pulses:
        assert pulse.tau_D_over_L2 >= 0.1
        assert any("τ·D/L²" in reason for reason in pulse.reasons)


def test_an_incomplete_relaxation_is_flagged() -> None:
    params = load_preset(PRESET)
    samples, truth = titration(params, rest_fraction=0.3, pulses=3)
    result = analyse(samples, truth, params)
    assert all(any("had not relaxed" in r for r in p.reasons) for p in result.pulses)


def test_a_pulse_lost_in_the_noise_is_flagged() -> None:
    params = load_preset(PRESET)
    samples, truth = titration(params, c_rate=0.01, pulses=3)
    result = analyse(samples, truth, params)
    assert all(any("noise" in r for r in p.reasons) for p in result.pulses)


def test_the_result_states_its_convention() -> None:
    params = load_preset(PRESET)
    samples, truth = titration(params, pulses=2)
    electrode = analyse(samples, truth, params)
    assert "L = V/S = 37.9 µm" in electrode.convention
    assert "geometric electrode area" in electrode.convention
    assert "τ·D/L² < 0.1" in electrode.criteria
    particle = analyse(samples, truth, params, geometry="particle")
    assert "particle" in particle.convention
    data = electrode.as_dict()
    assert data["convention"] == electrode.convention
    assert isinstance(data["pulses"][0]["reasons"], list)


def test_bad_input_gets_one_sentence() -> None:
    params = load_preset(PRESET)
    samples, _ = titration(params, pulses=1)
    missing = {k: v for k, v in samples.items() if k != "voltage_V"}
    with pytest.raises(AnalysisError, match="'voltage_V' is missing"):
        analyze_gitt(missing, diffusion_length_cm=3.79e-3)
    with pytest.raises(AnalysisError, match="give L in cm"):
        analyze_gitt(samples, diffusion_length_cm=37.9)
    rest_only = {**samples, "current_A": np.zeros_like(samples["current_A"])}
    with pytest.raises(AnalysisError, match="no current pulse"):
        analyze_gitt(rest_only, diffusion_length_cm=3.79e-3)
    backwards = {**samples, "test_time_s": samples["test_time_s"][::-1].copy()}
    with pytest.raises(AnalysisError, match="goes backwards"):
        analyze_gitt(backwards, diffusion_length_cm=3.79e-3)
    with pytest.raises(AnalysisError, match="fit_window"):
        analyze_gitt(samples, diffusion_length_cm=3.79e-3, fit_window=(0.5, 0.2))
