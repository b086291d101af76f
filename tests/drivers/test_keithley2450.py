"""The Keithley 2450 driver against the wire-level simulator, over real TCP via pyvisa-py.

The simulator and the driver share one infinite-scale SimClock: the driver's host-side
waits advance simulated time, so an hour-long discharge takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator

import pytest
from driver_support import abort_after, collect
from sim_attach import attached

from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentReportedError,
    InstrumentTimeout,
)
from drivers.potentiostat import Potentiostat, Sample, StepCommand, StepEnd, StepLimit
from drivers.potentiostats.keithley2450 import CellFault, Keithley2450
from simulators.cell import Cell, load_preset
from simulators.clock import SimClock
from simulators.keithley2450 import Keithley2450Simulator

PRESET = "gao2025-dfncm-llzo"
SEED = 7


@pytest.fixture
def clock() -> SimClock:
    return SimClock(math.inf)


def charged_cell() -> Cell:
    return Cell(load_preset(PRESET), soc=1.0, seed=SEED)


async def start(
    cell: Cell, clock: SimClock, *, language: str = "SCPI", timeout_s: float = 2.0
) -> tuple[Keithley2450Simulator, Keithley2450]:
    sim = Keithley2450Simulator(cell, clock=clock, language=language, seed=SEED)
    host, port = await sim.start_tcp()
    driver = Keithley2450(f"TCPIP::{host}::{port}::SOCKET", timeout_s=timeout_s, clock=clock)
    return sim, driver


@pytest.fixture
async def bench(clock: SimClock) -> AsyncIterator[tuple[Keithley2450Simulator, Keithley2450]]:
    sim, driver = await start(charged_cell(), clock)
    await driver.connect()
    async with attached(sim, driver) as pair:
        yield pair


def delivered_Ah(samples: list[Sample]) -> float:
    total = 0.0
    for a, b in itertools.pairwise(samples):
        total += 0.5 * (abs(a.current_A) + abs(b.current_A)) * (b.t_s - a.t_s) / 3600
    return total


def discharge_to_cutoff(current_A: float, dt_s: float) -> float:
    """The same discharge run directly on a fresh cell: charge passed when V <= 3.0 V."""
    cell = charged_cell()
    t = 0.0
    while cell.step(dt_s, -current_A) > 3.0:
        t += dt_s
    return current_A * (t + dt_s) / 3600


async def test_identify_reports_the_simulated_instrument(bench) -> None:
    sim, driver = bench
    identity = await driver.identify()
    assert identity.vendor == "Keithley Instruments"
    assert identity.model == "2450"
    assert identity.serial == sim.serial and identity.firmware == sim.firmware
    assert isinstance(driver, Potentiostat)


async def test_capabilities_are_a_host_side_galvanostat(bench) -> None:
    _, driver = bench
    caps = await driver.capabilities()
    assert caps.techniques == frozenset({"rest", "cc", "pulse_train"})
    assert "eis" not in caps.techniques
    assert caps.on_device_limits is False and caps.can_reattach is False
    assert caps.max_abs_current_A == pytest.approx(1.05)
    assert "re-attach" in caps.notes


def test_it_refuses_to_re_attach_with_a_clear_error() -> None:
    driver = Keithley2450("TCPIP0::127.0.0.1::1::SOCKET")
    with pytest.raises(InstrumentError, match=r"cannot re-attach to a cc step.*from its start"):
        driver.attach(StepCommand("cc", duration_s=10, current_A=1e-3), after_index=5)


@pytest.mark.parametrize("language", ["SCPI2400", "TSP"])
async def test_other_command_sets_are_refused_with_a_way_out(clock, language) -> None:
    sim, driver = await start(charged_cell(), clock, language=language)
    async with attached(sim, driver):
        with pytest.raises(InstrumentError, match=f"uses the {language} command set.*SCPI"):
            await driver.connect()


async def test_identify_rechecks_the_command_set(bench) -> None:
    sim, driver = bench
    sim.instrument.language = "TSP"  # someone switched it at the front panel
    with pytest.raises(InstrumentError, match="switch it to SCPI"):
        await driver.identify()


async def test_cc_discharge_ends_at_the_cutoff_with_the_cells_capacity(bench) -> None:
    sim, driver = bench
    one_c = sim.cell.one_c_A
    cutoff = StepLimit("voltage", "<=", 3.0, name="voltage <= 3.0 V")
    command = StepCommand(
        "cc", duration_s=4 * 3600, current_A=-one_c, limits=(cutoff,), sample_interval_s=10.0
    )
    samples, end = await collect(driver, command)

    assert end.reason == "limit" and end.limit == cutoff
    assert end.samples == len(samples)
    assert samples[-1].voltage_V <= 3.0 < samples[-2].voltage_V
    assert all(s.current_A == pytest.approx(-one_c, rel=1e-6) for s in samples)
    steps = {round(b.t_s - a.t_s, 6) for a, b in itertools.pairwise(samples)}
    assert steps == {10.0}
    expected = discharge_to_cutoff(one_c, 10.0)
    assert delivered_Ah(samples) == pytest.approx(expected, rel=0.02)
    # a 1C discharge gets most, but not all, of the low-rate capacity
    assert 0.6 * sim.cell.params.capacity_Ah < delivered_Ah(samples) < sim.cell.params.capacity_Ah
    # the step leaves the cell at rest: 0 A with the output still on
    assert sim.output_on and sim.instrument.smu.current_level_A == 0.0


async def test_rest_measures_the_relaxing_open_circuit_voltage(bench) -> None:
    sim, driver = bench
    one_c = sim.cell.one_c_A
    discharge = StepCommand("cc", duration_s=900, current_A=-one_c, sample_interval_s=60)
    _, end = await collect(driver, discharge)
    assert end.reason == "time"
    under_load = sim.cell.voltage(-one_c)

    rest = StepCommand("rest", duration_s=3 * 3600, sample_interval_s=300)
    samples, end = await collect(driver, rest)
    assert end.reason == "time" and samples[-1].t_s == pytest.approx(3 * 3600)
    volts = [s.voltage_V for s in samples]
    assert all(abs(s.current_A) < 1e-9 for s in samples)
    assert volts[0] > under_load  # the IR drop disappears at once
    assert all(b > a - 1e-3 for a, b in itertools.pairwise(volts))  # then relaxes up
    assert volts[-1] == pytest.approx(sim.cell.ocv(), abs=0.005)


async def test_pulse_train_alternates_pulses_and_relaxations(bench) -> None:
    sim, driver = bench
    current = -0.2 * sim.cell.one_c_A
    command = StepCommand(
        "pulse_train",
        duration_s=10 * 3600,
        current_A=current,
        pulse_s=600,
        relax_s=1200,
        n_pulses=3,
        sample_interval_s=60,
    )
    samples, end = await collect(driver, command)
    assert end.reason == "completed"
    assert samples[-1].t_s == pytest.approx(3 * 1800)
    pulses = [s for s in samples if s.phase == "pulse"]
    relaxes = [s for s in samples if s.phase == "relax"]
    assert {s.pulse_index for s in pulses} == {0, 1, 2}
    assert all(s.current_A == pytest.approx(current) for s in pulses)
    assert all(abs(s.current_A) < 1e-9 for s in relaxes)
    # each relaxation starts and ends at a phase boundary and recovers the voltage
    for index in range(3):
        pulse = [s for s in pulses if s.pulse_index == index]
        relax = [s for s in relaxes if s.pulse_index == index]
        assert pulse[0].t_s == pytest.approx(index * 1800)
        assert pulse[-1].t_s == pytest.approx(index * 1800 + 600)
        assert relax[0].t_s == pytest.approx(index * 1800 + 600)
        assert relax[-1].voltage_V > relax[0].voltage_V > pulse[-1].voltage_V
    assert delivered_Ah(samples) == pytest.approx(3 * 600 * abs(current) / 3600, rel=1e-3)


async def test_capacity_and_time_limits_are_evaluated_on_the_host(bench) -> None:
    sim, driver = bench
    current = 0.5 * sim.cell.one_c_A
    sim.cell.set_soc(0.3)
    capacity = StepLimit("capacity", ">=", current * 0.5 / 3600 * 1800, name="half an hour")
    charge = StepCommand(
        "cc", duration_s=7200, current_A=current, limits=(capacity,), sample_interval_s=30
    )
    samples, end = await collect(driver, charge)
    assert end.reason == "limit" and end.limit == capacity
    assert samples[-1].t_s == pytest.approx(900, abs=30)  # 0.5x the current of the limit
    timed = StepLimit("time", ">=", 95.0)
    samples, end = await collect(
        driver, StepCommand("rest", duration_s=600, limits=(timed,), sample_interval_s=30)
    )
    assert end.reason == "limit" and samples[-1].t_s == pytest.approx(95.0)


async def test_abort_stops_the_step_at_the_next_sample(bench) -> None:
    _, driver = bench
    command = StepCommand("rest", duration_s=3600, sample_interval_s=10)
    _seen, end = await abort_after(driver, command)
    assert end.reason == "aborted" and end.samples == 5


async def test_an_instrument_error_surfaces_with_its_message(bench) -> None:
    sim, driver = bench
    sim.inject_error(-315, "Configuration memory lost")
    command = StepCommand("cc", duration_s=60, current_A=-1e-3, sample_interval_s=10)
    with pytest.raises(InstrumentReportedError, match="-315: Configuration memory lost") as info:
        await collect(driver, command)
    assert info.value.code == "-315"
    assert not sim.output_on


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (StepCommand("eis", duration_s=60), "cannot do EIS; use an EmStat4 channel"),
        (StepCommand("geis", duration_s=60), "cannot do EIS"),
        (StepCommand("cv", duration_s=60, voltage_V=4.2), "constant-voltage"),
        (StepCommand("sweep", duration_s=60), "voltage sweep"),
        (StepCommand("cc", duration_s=60, current_A=1.2), r"±1.05 A"),
        (StepCommand("cc", duration_s=60, current_A=-1.06), r"±1.05 A"),
        (StepCommand("cc", duration_s=60, current_A=0.1, sample_interval_s=0), "interval"),
    ],
)
async def test_steps_it_cannot_run_are_refused_before_anything_moves(
    bench, command, message
) -> None:
    sim, driver = bench
    reads = sim.instrument.reads
    with pytest.raises(InstrumentError, match=message):
        await collect(driver, command)
    assert sim.instrument.reads == reads and not sim.output_on


DISCHARGE = StepCommand(
    "cc",
    duration_s=4 * 3600,
    current_A=-3e-3,
    limits=(StepLimit("voltage", "<=", 3.0),),
    sample_interval_s=10,
)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("drop_after_reads", InstrumentConnectionError),
        ("corrupt_after_reads", InstrumentReplyError),
    ],
)
async def test_wire_faults_raise_and_leave_the_output_off(bench, fault, error) -> None:
    sim, driver = bench
    setattr(sim.faults, fault, 5)
    seen = 0
    with pytest.raises(error, match=r"Keithley 2450 at TCPIP::127\.0\.0\.1"):
        async for item in driver.run(DISCHARGE):
            seen += isinstance(item, Sample)
    assert seen == 4  # the setup read, then four samples, then the fault
    assert not sim.output_on


async def test_a_stall_times_out_and_the_output_still_goes_off(clock) -> None:
    sim, driver = await start(charged_cell(), clock, timeout_s=0.4)
    await driver.connect()
    async with attached(sim, driver):
        sim.faults.stall_after_reads = 3
        sim.faults.stall_s = 0.6
        with pytest.raises(InstrumentTimeout, match=r"sent no reply within 0\.4 s"):
            await collect(driver, DISCHARGE)
        assert not sim.output_on
        # and the driver is usable again afterwards
        samples, end = await collect(
            driver, StepCommand("rest", duration_s=60, sample_interval_s=10)
        )
        assert end.reason == "time" and len(samples) == 7


@pytest.mark.parametrize(("fault", "kind"), [("open", "open"), ("short", "short")])
async def test_cell_faults_are_named_and_leave_the_output_off(bench, fault, kind) -> None:
    sim, driver = bench
    seen = 0
    with pytest.raises(
        CellFault, match=f"look {'shorted' if kind == 'short' else 'open'}|are open"
    ) as info:
        async for item in driver.run(DISCHARGE):
            seen += isinstance(item, Sample)
            if seen == 3:
                getattr(sim.cell, fault)()
    assert info.value.kind == kind
    assert seen == 3
    assert not sim.output_on


async def test_a_charge_that_overshoots_into_the_compliance_ends_at_its_limit(bench) -> None:
    sim, driver = bench
    sim.cell.set_soc(0.6)
    upper = StepLimit("voltage", ">=", 4.3, name="voltage >= 4.3 V")
    # one sample an hour: the voltage reaches VLIM long before the host looks again
    command = StepCommand(
        "cc",
        duration_s=20 * 3600,
        current_A=0.5 * sim.cell.one_c_A,
        limits=(upper,),
        sample_interval_s=3600,
    )
    samples, end = await collect(driver, command)
    assert end.reason == "limit" and end.limit == upper
    assert "compliance" in end.message
    assert samples[-1].voltage_V == pytest.approx(4.3 + driver.vlim_margin_V, abs=1e-3)  # VLIM
    assert sim.instrument.smu.vlim_V == pytest.approx(5.05)  # back at the ceiling for the rest
    assert 0 < samples[-1].current_A < 0.5 * sim.cell.one_c_A  # the current fell in compliance


async def test_safe_during_a_step_ends_it_with_the_output_off(bench) -> None:
    sim, driver = bench
    end = None
    seen = 0
    async for item in driver.run(StepCommand("rest", duration_s=3600, sample_interval_s=10)):
        if isinstance(item, Sample):
            seen += 1
            if seen == 2:
                await driver.safe()
                assert not sim.output_on
        else:
            end = item
    assert end is not None and end.reason == "aborted" and end.samples == 2
    assert not sim.output_on


async def test_abandoning_a_step_switches_the_output_off(bench) -> None:
    sim, driver = bench
    steps = driver.run(DISCHARGE)
    first = await anext(steps)
    assert isinstance(first, Sample) and sim.output_on
    await steps.aclose()  # the consumer walked away mid-step
    assert not sim.output_on


async def test_closing_the_stream_after_its_end_leaves_the_cell_at_rest(bench) -> None:
    sim, driver = bench
    steps = driver.run(StepCommand("cc", duration_s=30, current_A=-1e-3, sample_interval_s=10))
    async for item in steps:
        if isinstance(item, StepEnd):
            break
    await steps.aclose()
    assert sim.output_on and sim.current_A == 0.0


async def test_a_finite_time_scale_runs_on_scaled_wall_time() -> None:
    clock = SimClock(3600.0)  # an hour a second
    sim, driver = await start(charged_cell(), clock)
    await driver.connect()
    async with attached(sim, driver):
        rest = StepCommand("rest", duration_s=1800, sample_interval_s=300)
        wall0 = time.monotonic()
        samples, end = await collect(driver, rest)
        wall = time.monotonic() - wall0
        assert end.reason == "time"
        assert wall >= 1800 / 3600 * 0.95  # it cannot run faster than scaled time
        assert 1800 <= samples[-1].t_s <= wall * 3600  # instrument time is scaled wall time
        assert all(b.t_s > a.t_s for a, b in itertools.pairwise(samples))
        assert 4 <= len(samples) <= 7  # about every 300 s (a loaded machine may skip one)


async def test_errors_left_from_before_connecting_are_logged_not_raised(clock, caplog) -> None:
    sim, driver = await start(charged_cell(), clock)
    sim.inject_error(-285, "Program syntax error")
    async with attached(sim, driver):
        with caplog.at_level(logging.WARNING):
            await driver.connect()
        assert "error -285 queued before we connected: Program syntax error" in caplog.text
        samples, end = await collect(driver, StepCommand("rest", duration_s=20))
        assert end.reason == "time" and len(samples) == 21


async def test_steps_run_back_to_back_when_the_consumer_breaks_at_the_end(bench) -> None:
    sim, driver = bench
    ends = []
    for current in (-1e-3, 0.0, 1e-3):
        async for item in driver.run(
            StepCommand("cc", duration_s=30, current_A=current, sample_interval_s=10)
        ):
            if isinstance(item, StepEnd):
                ends.append(item.reason)
                break  # as the scheduler's runner does; the generator is left suspended
    assert ends == ["time", "time", "time"]
    gc.collect()
    await asyncio.sleep(0.05)  # let the loop finalize the suspended generators
    assert sim.output_on and sim.current_A == 0.0  # finalizing them made nothing unsafe


async def test_two_instruments_run_concurrently_without_cross_talk() -> None:
    pairs = [await start(charged_cell(), SimClock(math.inf)) for _ in range(2)]
    try:
        for _, driver in pairs:
            await driver.connect()
        currents = (-1e-3, -2e-3)
        commands = [
            StepCommand("cc", duration_s=3600, current_A=i, sample_interval_s=60) for i in currents
        ]
        results = await asyncio.gather(
            *(collect(driver, cmd) for (_, driver), cmd in zip(pairs, commands, strict=True))
        )
        for (samples, end), current in zip(results, currents, strict=True):
            assert end.reason == "time" and len(samples) == 61
            assert all(s.current_A == pytest.approx(current) for s in samples)
        # twice the current takes the cell twice as far down in the same hour
        drops = [samples[0].voltage_V - samples[-1].voltage_V for samples, _ in results]
        assert drops[1] > 1.5 * drops[0]
        threads = {driver.transport._executor for _, driver in pairs}
        assert len(threads) == 2  # one worker per instrument
    finally:
        for sim, driver in pairs:
            await driver.close()
            await sim.stop()
