"""The electrolyte analyses on synthetic records whose answer is known in closed form: I0 of a
potentiostatic hold extrapolated in √t, and when a Li‖Li overpotential settles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocols.analysis.techniques import initial_current, symmetric_overpotential


def test_initial_current_extrapolates_the_sqrt_t_decay() -> None:
    t = np.arange(1.0, 61.0)
    i0, k = 1.2e-4, 0.015
    current = i0 * (1 - k * np.sqrt(t))
    result = initial_current(t, current)
    assert result.current_A == pytest.approx(i0, rel=1e-9)
    assert result.first_sample_A == current[0] < result.current_A
    assert result.samples == 5 and "√t" in result.rule


def test_initial_current_of_a_flat_or_negative_hold() -> None:
    flat = initial_current(np.arange(1.0, 10.0), np.full(9, 5e-5))
    assert flat.current_A == 5e-5 and flat.samples == 1
    t = np.arange(1.0, 61.0)
    falling = initial_current(t, -1e-4 * (1 - 0.01 * np.sqrt(t)))
    assert falling.current_A == pytest.approx(-1e-4, rel=1e-9)


def cycling(hours: int, plateau_V) -> dict[str, np.ndarray]:
    """1 h half cycles at ±0.1 mA/cm² whose flat plateau follows plateau_V(start hour)."""
    times, volts, amps = [], [], []
    for k in range(hours):
        sign = 1.0 if k % 2 == 0 else -1.0
        t = 3600.0 * k + np.linspace(60.0, 3600.0, 60)
        times.append(t)
        volts.append(np.full(t.size, sign * plateau_V(k)))
        amps.append(np.full(t.size, sign * 0.1e-3 * 1.131))
    return {
        "test_time_s": np.concatenate(times),
        "voltage_V": np.concatenate(volts),
        "current_A": np.concatenate(amps),
    }


def test_settling_time_and_steady_overpotential() -> None:
    final, excess, scale_h = 0.014, 0.022, 30.0
    result = symmetric_overpotential(
        cycling(400, lambda h: final + excess * math.exp(-h / scale_h)), area_cm2=1.131
    )
    # the excess falls below 10 % of the final level at t = scale·ln(excess / (0.1·final))
    settle = scale_h * math.log(excess / (0.1 * final))
    assert result.settled_after_s / 3600 == math.ceil(settle)
    assert result.steady_mean_abs_V == pytest.approx(final, rel=1e-3)
    assert result.peak_mean_abs_V == pytest.approx(final + excess) and result.peak_after_s == 0
    assert result.short_at_s is None and result.stable_s == result.cycled_s
    assert result.cycled_s == pytest.approx(400 * 3600.0 - 60.0)


def test_a_short_ends_the_stable_time_and_a_run_that_never_settles() -> None:
    shorted = symmetric_overpotential(
        cycling(40, lambda h: 0.02 if h < 30 else 1e-4), area_cm2=1.131
    )
    assert shorted.short_at_s == 30 * 3600.0 + 60.0
    assert shorted.stable_s == pytest.approx(30 * 3600.0)
    drifting = symmetric_overpotential(cycling(40, lambda h: 0.01 * (1 + h)), area_cm2=1.131)
    assert drifting.settled_after_s is None
