"""Supporting techniques on synthetic records built from their own physics (no cell model here:
it has no blocking electrodes, Li‖Li cell or voltammetric peaks)."""

from __future__ import annotations

import numpy as np
import pytest

from protocols import analysis
from protocols.analysis import AnalysisError

RNG = np.random.default_rng(7)


def test_dc_polarisation_recovers_the_conductivity() -> None:
    """kim2025's small-SE pellet: 2.224 mS/cm at 30 °C; 0.5 mm thick, Ø10 mm."""
    sigma, thickness, area = 2.224e-3, 0.05, np.pi * 0.5**2
    resistance = thickness / (sigma * area)
    steps = np.array([0.01, 0.02, 0.05, 0.1])
    currents = steps / resistance * (1 + 0.002 * RNG.standard_normal(steps.size))
    result = analysis.dc_polarisation(steps, currents, thickness_cm=thickness, area_cm2=area)
    assert result.conductivity_S_cm == pytest.approx(sigma, rel=0.01)
    assert result.resistance_ohm == pytest.approx(resistance, rel=0.01)
    assert result.r_squared > 0.999
    single = analysis.dc_polarisation(
        [0.05], [0.05 / resistance], thickness_cm=thickness, area_cm2=area
    )
    assert single.conductivity_S_cm == pytest.approx(sigma, rel=1e-9)
    direct = analysis.conductivity(resistance, thickness_cm=thickness, area_cm2=area)
    assert direct == pytest.approx(sigma)


def test_tortuosity_factor_of_a_composite() -> None:
    """A 30 vol% SE network with τ² = 4 conducts σ0·φ/τ² = 0.075·σ0."""
    sigma0, phi, tau2 = 2.224e-3, 0.30, 4.0
    result = analysis.tortuosity_factor(sigma0, sigma0 * phi / tau2, phi)
    assert result.tortuosity_factor == pytest.approx(tau2)
    assert result.tortuosity == pytest.approx(2.0)
    assert "τ² = (σ0/σ_eff)·φ" in result.formula
    with pytest.raises(AnalysisError, match="fraction"):
        analysis.tortuosity_factor(1e-3, 1e-4, 30.0)


def test_steady_state_current_of_a_decaying_hold() -> None:
    t = np.linspace(0, 3600, 721)
    current = 2e-6 + 8e-6 * np.exp(-t / 300.0)
    settled = analysis.steady_state_current(t, current)
    assert settled.settled and settled.current_A == pytest.approx(2e-6, rel=0.01)
    early = analysis.steady_state_current(t[:120], current[:120])
    assert not early.settled and early.current_A > 3e-6


def test_bruce_vincent_transference_number() -> None:
    """Build the four readings a cell with t+ = 0.39 (ye2025) would give, then invert them."""
    t_plus, dv, r_bulk, r0, rss = 0.39, 0.010, 50.0, 100.0, 120.0
    i0 = dv / (r_bulk + r0)
    # steady state: I_ss(ΔV − I0 R0) = t+ I0 (ΔV − I_ss R_ss), solved for I_ss
    iss = t_plus * i0 * dv / (dv - i0 * r0 + t_plus * i0 * rss)
    result = analysis.bruce_vincent(delta_V=dv, I0_A=i0, Iss_A=iss, R0_ohm=r0, Rss_ohm=rss)
    assert result.t_plus == pytest.approx(t_plus, rel=1e-9)
    ideal = analysis.bruce_vincent(delta_V=dv, I0_A=i0, Iss_A=0.4 * i0, R0_ohm=0.0, Rss_ohm=0.0)
    assert ideal.t_plus == pytest.approx(0.4)  # no interfaces: the current ratio
    with pytest.raises(AnalysisError, match="interfacial drops"):
        analysis.bruce_vincent(delta_V=0.001, I0_A=i0, Iss_A=iss, R0_ohm=r0, Rss_ohm=rss)
    with pytest.raises(AnalysisError, match="exceeds the initial"):
        analysis.bruce_vincent(delta_V=dv, I0_A=iss, Iss_A=i0, R0_ohm=r0, Rss_ohm=rss)


def li_li_record(half_cycles: int, short_from: int | None) -> dict[str, np.ndarray]:
    """Plating/stripping at 0.1 mA/cm² for 1 h each way: ASR 200 Ω cm² plus a nucleation peak."""
    area, j, asr = 1.131, 0.1e-3, 200.0
    current = j * area
    times, volts, amps = [], [], []
    t0 = 0.0
    for k in range(half_cycles):
        sign = 1.0 if k % 2 == 0 else -1.0
        t = np.linspace(1.0, 3600.0, 120)
        eta = asr * j * (1 + 0.5 * np.exp(-t / 120.0))
        if short_from is not None and k >= short_from:
            eta = np.full_like(t, 2e-4)
        times.append(t0 + t)
        volts.append(sign * eta + 1e-5 * RNG.standard_normal(t.size))
        amps.append(np.full(t.size, sign * current))
        t0 += 3600.0
    return {
        "test_time_s": np.concatenate(times),
        "voltage_V": np.concatenate(volts),
        "current_A": np.concatenate(amps),
    }


def test_li_li_overpotential_asr_and_short() -> None:
    result = analysis.symmetric_overpotential(li_li_record(10, short_from=7), area_cm2=1.131)
    assert len(result.half_cycles) == 10
    good = result.half_cycles[:7]
    for half in good:
        assert half.j_mA_cm2 == pytest.approx(0.1 if half.current_A > 0 else -0.1)
        assert half.max_abs_V == pytest.approx(0.03, rel=0.05)  # the nucleation peak
        assert half.asr_ohm_cm2 == pytest.approx(200.0, rel=0.03)  # the plateau
        assert not half.shorted
    assert all(h.shorted for h in result.half_cycles[7:])
    assert result.short_at_s == pytest.approx(7 * 3600.0 + 1.0)
    clean = analysis.symmetric_overpotential(li_li_record(4, short_from=None), area_cm2=1.131)
    assert clean.short_at_s is None


def voltammogram(e_pa: float, e_pc: float, cycles: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """0.1 mV/s between 3.0 and 4.3 V, Gaussian redox peaks on a capacitive background."""
    up = np.linspace(3.0, 4.3, 1301)
    down = up[::-1]
    v = np.concatenate([np.concatenate([up, down[1:]]) for _ in range(cycles)])
    rising = np.concatenate([np.concatenate([np.ones(up.size), -np.ones(down.size - 1)])] * cycles)
    peak = lambda centre, width: np.exp(-(((v - centre) / width) ** 2))  # noqa: E731
    current = np.where(rising > 0, 1e-3 * peak(e_pa, 0.04), -8e-4 * peak(e_pc, 0.05))
    current += 2e-5 * rising
    return v, current


def test_cv_peak_positions_and_separation() -> None:
    """ye2025 NCM@PVDF: oxidation peak at 3.774 V, H1–M separation 0.107 V."""
    v, i = voltammogram(3.774, 3.774 - 0.107)
    cycles = analysis.cv_peaks(v, i)
    assert len(cycles) == 2
    for cycle in cycles:
        assert cycle.E_pa_V == pytest.approx(3.774, abs=0.002)
        assert cycle.delta_Ep_V == pytest.approx(0.107, abs=0.003)
        assert cycle.i_pa_A > 0 > cycle.i_pc_A


def test_lsv_decomposition_onset() -> None:
    """ye2025: decomposition at 4.62 V, read at 0.01 mA/cm² on a Ø16 mm SS electrode."""
    area = np.pi * 0.8**2
    v = np.linspace(3.0, 5.5, 2501)
    j = 1e-4 * np.ones_like(v) + 0.01 * np.exp((v - 4.62) / 0.05)  # mA/cm²
    j[v < 4.62] = np.minimum(j[v < 4.62], 0.009)  # the onset is where it crosses 0.01
    result = analysis.lsv_onset(v, j * area * 1e-3, area_cm2=area, threshold_mA_cm2=0.01)
    assert result.onset_V == pytest.approx(4.62, abs=0.002)
    quiet = analysis.lsv_onset(v, np.full_like(v, 1e-9), area_cm2=area)
    assert quiet.onset_V is None


def test_bad_input_gets_one_sentence() -> None:
    with pytest.raises(AnalysisError, match="positive"):
        analysis.conductivity(-1.0, thickness_cm=0.05, area_cm2=1.0)
    with pytest.raises(AnalysisError, match="does not rise"):
        analysis.dc_polarisation([0.01, 0.02], [2e-6, 1e-6], thickness_cm=0.05, area_cm2=1.0)
    with pytest.raises(AnalysisError, match="no current"):
        analysis.symmetric_overpotential(
            {"test_time_s": [0, 1], "voltage_V": [0, 0], "current_A": [0, 0]}, area_cm2=1.0
        )
    with pytest.raises(AnalysisError, match="too few"):
        analysis.cv_peaks([3.0, 3.1], [0.0, 0.0])
