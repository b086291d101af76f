"""The chamber's thermal plant on its own: rate limits, overshoot, noise, passive drift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.errors import SimulatorError
from simulators.thermal import ChamberPlant, ThermalParams


def _held(degC: float, **params: float) -> ChamberPlant:
    plant = ChamberPlant(ThermalParams(**params), start_degC=degC, seed=1)
    plant.set_setpoint(degC)
    plant.set_mode("CONSTANT")
    return plant


def test_big_steps_are_rate_limited_both_ways():
    plant = _held(30.0)
    plant.set_setpoint(90.0)
    plant.advance_to(600.0)  # mid-ramp
    t0, a0 = plant.t, plant.air_degC
    plant.advance_to(900.0)
    assert (plant.air_degC - a0) / (plant.t - t0) * 60 == pytest.approx(3.0, rel=1e-3)
    plant.advance_to(5000.0)
    plant.set_setpoint(20.0)
    plant.advance_to(5600.0)
    t0, a0 = plant.t, plant.air_degC
    plant.advance_to(5900.0)
    assert (plant.air_degC - a0) / (plant.t - t0) * 60 == pytest.approx(-2.0, rel=1e-3)


def test_small_overshoot_then_settles():
    plant = _held(30.0)
    plant.set_setpoint(60.0)
    peak = 0.0
    for k in range(1, 4000):
        plant.advance_to(float(k))
        peak = max(peak, plant.air_degC)
    assert 60.3 < peak < 62.0  # underdamped, but well inside a 3 K overshoot limit
    assert plant.air_degC == pytest.approx(60.0, abs=0.01)


def test_sensor_noise_has_the_stated_spread_and_dropout_is_nan():
    plant = _held(25.0)
    readings = np.array([plant.measured_degC() for _ in range(4000)])
    assert readings.mean() == pytest.approx(25.0, abs=0.01)
    assert readings.std() == pytest.approx(plant.params.noise_K, rel=0.1)
    plant.faults.sensor_dropout = True
    assert math.isnan(plant.measured_degC())


def test_standby_and_heater_failure_drift_toward_ambient():
    plant = _held(40.0)
    plant.set_mode("STANDBY")
    plant.advance_to(1800.0)  # one loss time constant
    expected = 22.0 + 18.0 * math.exp(-1.0)
    assert plant.air_degC == pytest.approx(expected, abs=0.05)
    failed = _held(30.0)
    failed.faults.heater_failed = True
    failed.set_setpoint(60.0)
    failed.advance_to(3600.0)
    assert failed.air_degC < 30.0


def test_bad_commands_are_refused():
    plant = _held(25.0)
    with pytest.raises(SimulatorError, match="outside the chamber"):
        plant.set_setpoint(500.0)
    with pytest.raises(SimulatorError, match="not one of"):
        plant.set_mode("TURBO")
