"""The real EmStat4 driver against the EmStat4 simulator, over real TCP and a real pty.

Expected capacities are computed by running the same discharge directly on a fresh cell
model, so the test checks the whole wire path (script generation, interpretation,
on-device limits, package encoding and parsing), not a number written here.
"""

from __future__ import annotations

import math

import pytest
from driver_support import abort_after, collect
from sim_attach import attached

from drivers.errors import InstrumentError, InstrumentReportedError
from drivers.potentiostat import ImpedancePoint, StepCommand, StepLimit
from drivers.potentiostats.emstat4 import EmStat4
from simulators.cell import Cell, load_preset
from simulators.emstat4 import EmStat4Simulator

PRESET = "gao2025-dfncm-llzo"


def charged_cell(seed: int = 3) -> Cell:
    cell = Cell(load_preset(PRESET), seed=seed)
    cell.set_soc(1.0)
    return cell


def direct_discharge_Ah(current_A: float, v_min: float, dt: float) -> float:
    """Capacity the cell model itself delivers at this current down to v_min."""
    cell = charged_cell()
    charge = 0.0
    for _ in range(10_000_000):
        voltage = cell.step(dt, -current_A)
        charge += current_A * dt / 3600.0
        if voltage <= v_min:
            break
    return charge


@pytest.fixture
async def emstat():
    simulator = EmStat4Simulator(charged_cell())
    host, port = await simulator.start_tcp()
    driver = EmStat4(f"tcp://{host}:{port}")
    await driver.connect()
    yield driver, simulator
    await driver.close()
    await simulator.stop()


async def test_identify_over_tcp(emstat) -> None:
    driver, _ = emstat
    identity = await driver.identify()
    assert identity.vendor == "PalmSens"
    assert identity.model == "EmStat4 HR"
    assert identity.serial and identity.firmware


async def test_cc_discharge_ends_at_voltage_limit_with_model_capacity(emstat) -> None:
    driver, simulator = emstat
    one_c = simulator.cell.one_c_A
    current = 0.5 * one_c
    limit = StepLimit("voltage", "<=", 3.0, "voltage <= 3.0 V")
    command = StepCommand(
        "cc", duration_s=5 * 3600, current_A=-current, limits=(limit,), sample_interval_s=10.0
    )
    samples, end = await collect(driver, command)
    assert end.reason == "limit"
    assert end.limit == limit
    assert samples[-1].voltage_V <= 3.0
    assert all(s.voltage_V > 3.0 for s in samples[:-1])
    assert all(s.current_A == pytest.approx(-current, rel=1e-6) for s in samples)
    # Delivered capacity from the instrument's own time stamps.
    delivered = current * samples[-1].t_s / 3600.0
    expected = direct_discharge_Ah(current, 3.0, 10.0)
    assert delivered == pytest.approx(expected, rel=0.02)
    # and it is a real, rate-dependent fraction of the cell's capacity, not the nominal value
    assert 0.5 * simulator.cell.capacity_Ah < delivered < 1.01 * simulator.cell.capacity_Ah


async def test_time_limit_and_rest_report_time(emstat) -> None:
    driver, _ = emstat
    samples, end = await collect(driver, StepCommand("rest", duration_s=600, sample_interval_s=60))
    assert end.reason == "time"
    assert [s.t_s for s in samples] == pytest.approx([60.0 * k for k in range(1, 11)])
    assert all(3.0 < s.voltage_V < 4.5 and s.current_A == 0.0 for s in samples)


async def test_pulse_train_runs_on_device_with_phases(emstat) -> None:
    driver, simulator = emstat
    current = 0.1 * simulator.cell.one_c_A
    command = StepCommand(
        "pulse_train",
        duration_s=4 * 180,
        current_A=-current,
        pulse_s=60,
        relax_s=120,
        n_pulses=4,
        sample_interval_s=10,
        limits=(StepLimit("voltage", "<=", 3.0),),
    )
    samples, end = await collect(driver, command)
    assert end.reason == "completed"
    pulses = [s for s in samples if s.phase == "pulse"]
    relaxes = [s for s in samples if s.phase == "relax"]
    assert len(pulses) == 4 * 6 and len(relaxes) == 4 * 12
    assert {s.pulse_index for s in samples} == {0, 1, 2, 3}
    assert all(s.current_A == 0.0 for s in relaxes)
    # the potential relaxes upwards after each discharge pulse
    first_relax = [s.voltage_V for s in relaxes if s.pulse_index == 0]
    assert first_relax[-1] > first_relax[0]


async def test_eis_returns_the_model_spectrum(emstat) -> None:
    driver, simulator = emstat
    command = StepCommand(
        "eis", duration_s=1e5, f_start_Hz=1e5, f_end_Hz=0.1, points_per_decade=5, amplitude=0.01
    )
    points, end = await collect(driver, command)
    assert end.reason == "completed"
    assert len(points) == 31
    assert all(isinstance(p, ImpedancePoint) for p in points)
    assert points[0].frequency_Hz == pytest.approx(1e5)
    assert points[-1].frequency_Hz == pytest.approx(0.1)
    truth = simulator.cell.impedance([points[0].frequency_Hz])[0]
    assert points[0].z_real_ohm == pytest.approx(truth.real, rel=0.05)
    assert any(p.z_imag_ohm < 0 for p in points)  # capacitive arcs


async def test_same_driver_over_a_pty() -> None:
    simulator = EmStat4Simulator(charged_cell())
    path = await simulator.start_pty()
    driver = EmStat4(path)
    async with attached(simulator, driver):
        await driver.connect()
        assert (await driver.identify()).model == "EmStat4 HR"
        samples, end = await collect(
            driver, StepCommand("rest", duration_s=30, sample_interval_s=10)
        )
        assert end.reason == "time" and len(samples) == 3


async def test_current_beyond_range_is_refused_before_sending(emstat) -> None:
    driver, _ = emstat
    with pytest.raises(InstrumentError, match="100 mA"):
        await collect(driver, StepCommand("cc", duration_s=10, current_A=0.5))


async def test_instrument_error_code_is_reported_clearly(emstat) -> None:
    driver, simulator = emstat
    simulator.faults.error_code = 0x4010
    with pytest.raises(InstrumentReportedError, match=r"0x4010.*beyond the instrument's range"):
        await collect(driver, StepCommand("rest", duration_s=10, sample_interval_s=1))
    # the instrument still answers afterwards
    samples, end = await collect(driver, StepCommand("rest", duration_s=2, sample_interval_s=1))
    assert end.reason == "time" and len(samples) == 2


async def test_open_cell_during_cc_is_a_clear_error(emstat) -> None:
    driver, simulator = emstat
    simulator.cell.open()
    with pytest.raises(InstrumentReportedError, match="open-circuit"):
        await collect(
            driver, StepCommand("cc", duration_s=100, current_A=-1e-4, sample_interval_s=1)
        )
    assert not simulator.machine.cell_on  # on_finished: cell_off ran
    assert math.isfinite(simulator.cell.ocv())


async def test_abort_stops_a_running_step(emstat) -> None:
    driver, simulator = emstat
    command = StepCommand("rest", duration_s=10_000, sample_interval_s=1)
    seen, end = await abort_after(driver, command)
    assert end.reason == "aborted"
    assert seen < 100
    assert not simulator.running
