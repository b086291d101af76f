"""Each injected EmStat4 fault, through real TCP: a specific error and a cell left off.

The simulator fires a fault when it produces its (N+1)-th data package, so each test knows
exactly how many good samples precede the fault and checks that number arrived.
"""

from __future__ import annotations

import re
import time

import pytest

from drivers.errors import InstrumentReplyError, InstrumentReportedError, InstrumentTimeout
from drivers.potentiostat import Sample, StepCommand, StepEnd, StepLimit
from drivers.potentiostats.emstat4 import EmStat4
from drivers.potentiostats.emstat4.health import CellFault, is_short
from simulators.cell import Cell, load_preset
from simulators.emstat4 import EmStat4Simulator, parse_fault
from simulators.errors import SimulatorError

PRESET = "gao2025-dfncm-llzo"


def charged_cell() -> Cell:
    cell = Cell(load_preset(PRESET), seed=5)
    cell.set_soc(1.0)
    return cell


def discharge(cell: Cell, interval_s: float = 10.0) -> StepCommand:
    return StepCommand(
        "cc",
        duration_s=5 * 3600,
        current_A=-0.5 * cell.one_c_A,
        limits=(StepLimit("voltage", "<=", 3.0, "voltage <= 3.0 V"),),
        sample_interval_s=interval_s,
    )


@pytest.fixture
async def bench():
    """A charged cell behind a simulated EmStat4, and a driver with short timeouts."""
    simulator = EmStat4Simulator(charged_cell())
    host, port = await simulator.start_tcp()
    driver = EmStat4(f"tcp://{host}:{port}", name="ES4 test", timeout_s=0.6)
    await driver.connect()
    yield driver, simulator
    await driver.close()
    await simulator.stop()


async def samples_until_error(driver: EmStat4, command: StepCommand, error: type) -> tuple:
    got: list[Sample] = []
    with pytest.raises(error) as caught:
        async for item in driver.run(command):
            if isinstance(item, Sample):
                got.append(item)
    return got, caught.value


async def off_and_still_working(driver: EmStat4, simulator: EmStat4Simulator) -> None:
    """After the fault the script has stopped and the cell is off, and the channel runs a normal
    step: no stale lines, no stuck script."""
    assert not simulator.running and not simulator.machine.cell_on
    items = [i async for i in driver.run(StepCommand("rest", duration_s=3, sample_interval_s=1))]
    assert isinstance(items[-1], StepEnd) and items[-1].reason == "time"
    assert [s.index for s in items[:-1]] == [1, 2, 3]


async def test_stall_times_out_naming_the_wait_then_safe_confirms_cell_off(bench) -> None:
    driver, simulator = bench
    simulator.faults.stall_after_packages = 5
    command = discharge(simulator.cell, interval_s=0.05)
    started = time.monotonic()
    got, error = await samples_until_error(driver, command, InstrumentTimeout)
    waited = driver._read_timeout(command)
    assert len(got) == 5
    assert f"ES4 test at {driver.transport.endpoint} sent nothing for {waited:g} s" in str(error)
    assert "abort (Z) was sent" in str(error) and "not confirmed" in str(error)
    assert time.monotonic() - started >= waited
    assert simulator.machine.cell_on  # truly stalled: nothing happened on the instrument yet
    simulator.stall(False)  # the link answers again: the abort sent during the stall runs
    await driver.safe()
    await off_and_still_working(driver, simulator)


async def test_stall_that_recovers_within_the_grace_is_confirmed_off(bench) -> None:
    driver, simulator = bench
    simulator.faults.stall_after_packages = 3
    simulator.faults.stall_s = 1.0  # longer than the read timeout, shorter than it + grace
    command = discharge(simulator.cell, interval_s=0.05)
    assert driver._read_timeout(command) < 1.0 < driver._read_timeout(command) + 0.6
    got, error = await samples_until_error(driver, command, InstrumentTimeout)
    assert len(got) == 3
    assert "answered the abort" in str(error) and "cell is off" in str(error)
    await off_and_still_working(driver, simulator)


async def test_corrupted_package_names_the_line_and_aborts_the_step(bench) -> None:
    driver, simulator = bench
    simulator.faults.corrupt_after_packages = 7
    got, error = await samples_until_error(driver, discharge(simulator.cell), InstrumentReplyError)
    assert [s.index for s in got] == list(range(1, 8))
    bad = re.search(r"corrupted data package '(P[^']*)'", str(error))
    assert bad is not None and "g" in bad.group(1)  # the line as it arrived, corruption included
    assert "aborted and the cell switched off" in str(error)
    await off_and_still_working(driver, simulator)


async def test_instrument_error_mid_script_is_reported_with_its_meaning(bench) -> None:
    driver, simulator = bench
    simulator.faults.error_code = 0x4010
    simulator.faults.error_after_packages = 12
    got, error = await samples_until_error(
        driver, discharge(simulator.cell), InstrumentReportedError
    )
    assert len(got) == 12 and all(s.voltage_V > 3.0 for s in got)
    assert error.code == "4010"
    assert "0x4010: the requested current is beyond the instrument's range" in str(error)
    assert "during a cc step" in str(error) and "cell is off" in str(error)
    await off_and_still_working(driver, simulator)


async def test_cell_opening_mid_step_is_a_compliance_error(bench) -> None:
    driver, simulator = bench
    simulator.faults.open_after_packages = 9
    got, error = await samples_until_error(
        driver, discharge(simulator.cell), InstrumentReportedError
    )
    assert len(got) == 9 and all(3.0 < s.voltage_V < 4.4 for s in got)
    assert "open-circuit" in str(error) and "cell switched off" in str(error)
    assert not simulator.machine.cell_on


async def test_cell_short_during_cc_collapses_the_voltage_and_is_named(bench) -> None:
    driver, simulator = bench
    simulator.faults.short_after_packages = 10
    command = discharge(simulator.cell)
    got, error = await samples_until_error(driver, command, CellFault)
    assert error.kind == "short"
    assert str(error).startswith("cell shorted: ES4 test measured")
    assert "cell switched off" in str(error)
    # ten healthy samples, then the short's sample (not yielded) ended the step
    assert len(got) == 10 and all(s.voltage_V > 3.5 for s in got)
    shorted_mV = float(re.search(r"measured (-?[\d.]+) mV", str(error)).group(1))
    # I·R_short plus noise: far below a healthy cell, consistent with the preset's short
    params = simulator.cell.params
    assert abs(shorted_mV) < 1e3 * (abs(command.current_A) * params.short_ohm + 5 * params.noise_V)
    assert not simulator.running and not simulator.machine.cell_on


def test_short_rule_spares_a_low_voltage_symmetric_cell_but_catches_a_collapse() -> None:
    # A Li|Li cell under CC: a nucleation peak, then a plateau at about half of it.
    li_li = [0.040, 0.034, 0.027, 0.022, 0.020, 0.019, 0.019]
    peak = None
    for v in li_li:
        assert not is_short(v, peak, 0.05)
        peak = max(peak or 0.0, abs(v))
    assert is_short(0.002, peak, 0.05)  # the same cell, soft-shorted
    assert is_short(-1e-4, 3.7, 0.05)  # a cathode half-cell collapsing to I·R_short
    assert not is_short(2.9, 4.2, 0.05)  # a steep end of discharge is not a short
    assert is_short(1e-4, None, 0.05) and not is_short(0.03, None, 0.05)  # first sample
    assert not is_short(0.0, 4.0, None)  # rule turned off


def test_fault_spec_parsing_and_clear_errors() -> None:
    assert parse_fault("drop@500").after == 500
    assert parse_fault("drop-abrupt").kind == "drop-abrupt"
    spec = parse_fault("error=4006@30")
    assert (spec.kind, spec.code, spec.after) == ("error", 0x4006, 30)
    for bad in ("explode", "drop@x", "short=12@3"):
        with pytest.raises(SimulatorError) as caught:
            parse_fault(bad)
        message = str(caught.value)
        assert bad in message and "\n" not in message


async def test_fault_spec_arms_the_simulator(bench) -> None:
    driver, simulator = bench
    parse_fault("error=4011@4").arm(simulator)
    got, error = await samples_until_error(
        driver, discharge(simulator.cell), InstrumentReportedError
    )
    assert len(got) == 4 and "0x4011" in str(error)


def test_cli_fault_option_fails_the_run_with_one_line(tmp_path, capsys) -> None:
    from scheduler.cli import main

    protocol = tmp_path / "charge.yaml"
    protocol.write_text(
        "name: short-check\nc_rate_basis: 200 mA h/g\n"
        "safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1C}\n"
        "steps:\n"
        "  - cc: {rate: 0.5C, direction: charge, until: [{voltage: '>= 4.3 V'}],"
        " record: {dt: 10 s}}\n"
    )
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    for fault, expected in (("short@6", "cell shorted"), ("melt@3", "--fault 'melt@3'")):
        with pytest.raises(SystemExit) as caught:
            main(["sim", "run", str(protocol), "--db", db, "--fault", fault, "--json"])
        assert caught.value.code != 0
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
