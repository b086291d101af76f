"""Rests that end when the cell has relaxed, through the wire of both potentiostats.

A discharge pulse leaves the simulated cell relaxing; the rest after it carries a |dV/dt|
limit that the EmStat4 evaluates on the instrument (MethodSCRIPT) and the Keithley 2450 in its
host loop. The expected end comes from the cell model itself: the same pulse and rest run on
a fresh copy of the cell without noise, and the time its true |dV/dt| falls under the limit.
The block-mean rule (`drivers.relaxation`) reads the slope one block late, so a rest ends
between that time and two blocks after it; and far before its time bound.
"""

from __future__ import annotations

import math

import pytest
from driver_support import collect
from sim_attach import attached

from drivers.potentiostat import Sample, StepCommand, StepLimit
from drivers.potentiostats.emstat4 import EmStat4
from drivers.potentiostats.keithley2450 import Keithley2450
from protocols.relaxation import drift_window_s
from simulators.cell import Cell, load_preset
from simulators.clock import SimClock
from simulators.emstat4 import EmStat4Simulator
from simulators.keithley2450 import Keithley2450Simulator

PRESET = "gao2025-dfncm-llzo"
PULSE_S = 300.0
INTERVAL_S = 10.0
THRESHOLD_V_S = 1e-3 / 3600  # 1 mV/h
MAX_REST_S = 10 * 3600.0
WINDOW_S = drift_window_s(THRESHOLD_V_S, INTERVAL_S)
DRIFT = StepLimit("dV_dt", "<", THRESHOLD_V_S, "|dV/dt| < 1 mV/h", after_s=60.0, window_s=WINDOW_S)


def fresh_cell(seed: int = 5) -> Cell:
    return Cell(load_preset(PRESET), soc=0.6, seed=seed)


def pulse_current(cell: Cell) -> float:
    return -0.5 * cell.one_c_A


def relaxed_at_s() -> float:
    """When the noise-free cell's |dV/dt| falls under the threshold after the same pulse."""
    cell = fresh_cell()
    cell.step(PULSE_S, pulse_current(cell))
    t, v_prev = 0.0, cell.voltage(0.0)
    while t < MAX_REST_S:
        v = cell.step(INTERVAL_S, 0.0)
        t += INTERVAL_S
        if abs(v - v_prev) / INTERVAL_S < THRESHOLD_V_S:
            return t
        v_prev = v
    raise AssertionError("the model cell never relaxed")


def rest_command() -> StepCommand:
    return StepCommand("rest", duration_s=MAX_REST_S, sample_interval_s=INTERVAL_S, limits=(DRIFT,))


def assert_relaxed_end(samples: list, end, expected_s: float) -> None:
    assert end.reason == "limit" and end.limit == DRIFT
    duration = samples[-1].t_s
    assert expected_s <= duration <= expected_s + 2 * WINDOW_S + INTERVAL_S
    assert duration < MAX_REST_S / 2


async def test_emstat4_rest_ends_on_the_device_when_the_cell_has_relaxed() -> None:
    cell = fresh_cell()
    simulator = EmStat4Simulator(cell)
    host, port = await simulator.start_tcp()
    driver = EmStat4(f"tcp://{host}:{port}")
    await driver.connect()
    try:
        pulse = StepCommand(
            "cc", duration_s=PULSE_S, current_A=pulse_current(cell), sample_interval_s=30.0
        )
        await collect(driver, pulse)
        samples, end = await collect(driver, rest_command())
    finally:
        await driver.close()
        await simulator.stop()
    assert_relaxed_end(samples, end, relaxed_at_s())


async def test_keithley_rest_ends_in_the_host_loop_when_the_cell_has_relaxed() -> None:
    clock = SimClock(math.inf)
    cell = fresh_cell()
    sim = Keithley2450Simulator(cell, clock=clock, seed=5)
    host, port = await sim.start_tcp()
    driver = Keithley2450(f"TCPIP::{host}::{port}::SOCKET", timeout_s=2.0, clock=clock)
    await driver.connect()
    async with attached(sim, driver):
        pulse = StepCommand(
            "cc", duration_s=PULSE_S, current_A=pulse_current(cell), sample_interval_s=30.0
        )
        await collect(driver, pulse)
        samples, end = await collect(driver, rest_command())
    assert_relaxed_end(samples, end, relaxed_at_s())


def relaxations(samples: list[Sample]) -> dict[int, float]:
    """How long each relaxation of a pulse train lasted (its last sample's time from its first
    minus one interval: the relaxation starts one interval before its first sample)."""
    spans: dict[int, list[float]] = {}
    for s in samples:
        if s.phase == "relax" and s.pulse_index is not None:
            spans.setdefault(s.pulse_index, []).append(s.t_s)
    return {k: v[-1] - v[0] + INTERVAL_S for k, v in spans.items()}


@pytest.mark.parametrize("instrument", ["emstat4", "keithley2450"])
async def test_pulse_train_relaxations_end_on_dv_dt_and_the_train_goes_on(instrument) -> None:
    relax_limit = StepLimit("dV_dt", "<", THRESHOLD_V_S, window_s=WINDOW_S)
    cell = fresh_cell()
    command = StepCommand(
        "pulse_train",
        duration_s=3 * (PULSE_S + MAX_REST_S),
        current_A=pulse_current(cell),
        pulse_s=PULSE_S,
        relax_s=MAX_REST_S,
        n_pulses=3,
        sample_interval_s=INTERVAL_S,
        relax_limits=(relax_limit,),
    )
    clock = SimClock(math.inf)
    if instrument == "emstat4":
        simulator = EmStat4Simulator(cell)
        host, port = await simulator.start_tcp()
        driver = EmStat4(f"tcp://{host}:{port}")
        await driver.connect()
        try:
            samples, end = await collect(driver, command)
        finally:
            await driver.close()
            await simulator.stop()
    else:
        sim = Keithley2450Simulator(cell, clock=clock, seed=5)
        host, port = await sim.start_tcp()
        driver = Keithley2450(f"TCPIP::{host}::{port}::SOCKET", timeout_s=2.0, clock=clock)
        await driver.connect()
        async with attached(sim, driver):
            samples, end = await collect(driver, command)
    assert end.reason == "completed"
    spans = relaxations(samples)
    assert sorted(spans) == [0, 1, 2]
    expected = relaxed_at_s()  # the first relaxation is the single pulse's
    assert expected - INTERVAL_S <= spans[0] <= expected + 2 * WINDOW_S + 2 * INTERVAL_S
    assert all(span < MAX_REST_S / 2 for span in spans.values())
