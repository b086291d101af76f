"""PyMeasure's own `Keithley2450` class (MIT) drives `cellbench sim`'s Keithley 2450 over
pyvisa-py, as a lab's script would drive the real SourceMeter on its LAN socket.

The voltages must be the cell's: V(+I) - V(-I) over 2I is the cell's small-signal resistance
(series, film and charge transfer, from a cell built from the same preset) plus the test
leads in two-wire sensing. Every property of the class must answer without an instrument
error and every control must read back what it set; only the 2400-style buffer helpers
(`:TRAC:FEED`, `:TRAC:DATA?` without indices), which PyMeasure documents as needing the
2400 command set, are refused, with the documented error and an answer.
"""

from __future__ import annotations

import inspect
import logging
import statistics
from collections.abc import Iterator

import pytest
from field_smu import PROBE_A, cell_resistance_ohm
from pymeasure.instruments.keithley import Keithley2450
from served_bench import ServedBench

from simulators.keithley2450.smu import LEAD_OHM


@pytest.fixture
def smu(field_smu_bench: ServedBench) -> Iterator[Keithley2450]:
    k = Keithley2450(
        field_smu_bench.endpoint("smu"),
        visa_library="@py",
        read_termination="\n",
        write_termination="\n",
        timeout=2000,
    )
    k.reset()
    k.clear()
    try:
        yield k
    finally:
        k.write(":OUTP OFF")
        k.adapter.close()


def mean_voltage(k: Keithley2450, n: int = 5) -> float:
    return statistics.fmean(k.voltage for _ in range(n))


def test_identify_and_reset_leave_an_empty_error_queue(smu: Keithley2450) -> None:
    assert smu.id.startswith("KEITHLEY INSTRUMENTS,MODEL 2450,")
    smu.reset()  # *RST;:stat:pres;:*CLS;
    assert smu.check_errors() == []
    assert smu.next_error == [0, '"No error"']  # the 2450 quotes the text


def test_sourced_current_gives_the_cells_resistance(smu: Keithley2450) -> None:
    smu.apply_current(compliance_voltage=10)
    smu.measure_voltage()
    smu.source_current = PROBE_A
    smu.enable_source()
    v_plus = mean_voltage(smu)
    smu.source_current = -PROBE_A
    v_minus = mean_voltage(smu)
    # two-wire sensing (PyMeasure sets no remote sense for voltage): the leads are in series
    expected = cell_resistance_ohm() + LEAD_OHM
    assert (v_plus - v_minus) / (2 * PROBE_A) == pytest.approx(expected, rel=0.02)
    assert 3.0 < v_minus < v_plus < 4.3
    assert smu.check_errors() == []


def test_the_voltage_compliance_trips_and_holds_the_limit(smu: Keithley2450) -> None:
    smu.apply_current(compliance_voltage=10)
    smu.measure_voltage()
    smu.enable_source()
    ocv = mean_voltage(smu)
    limit = round(ocv + 0.05, 3)
    smu.compliance_voltage = limit
    smu.source_current = 0.5  # far more than the cell takes below the limit
    assert mean_voltage(smu) == pytest.approx(limit, abs=2e-3)
    assert smu.ask(":SOUR:CURR:VLIM:TRIP?").strip() == "1"
    assert smu.check_errors() == []


def test_resistance_is_v_over_i_and_offset_compensation_removes_the_ocv(smu: Keithley2450) -> None:
    smu.apply_current(compliance_voltage=10)
    smu.source_current = PROBE_A
    smu.measure_resistance()
    smu.wires = 4
    smu.enable_source()
    plain = statistics.fmean(smu.resistance for _ in range(5))
    smu.measure_voltage()
    smu.write(":SENS:VOLT:RSEN ON")
    volts = mean_voltage(smu)
    assert plain == pytest.approx(volts / PROBE_A, rel=1e-3)  # the OCV is in it: ~13 kohm
    smu.measure_resistance()
    smu.write(":SENS:RES:OCOM ON")
    compensated = statistics.fmean(smu.resistance for _ in range(5))
    assert compensated == pytest.approx(cell_resistance_ohm(), rel=0.02)
    assert smu.check_errors() == []


def test_output_off_in_high_impedance_opens_the_relay(smu: Keithley2450) -> None:
    smu.apply_current(compliance_voltage=10)
    smu.measure_voltage()
    smu.source_current = PROBE_A
    smu.enable_source()
    assert smu.source_enabled is True
    assert mean_voltage(smu) > 3.0
    smu.current_output_off_state = "HIMP"
    smu.disable_source()
    assert smu.source_enabled is False
    assert abs(mean_voltage(smu)) < 0.01  # nothing on the voltmeter
    smu.shutdown()
    assert smu.check_errors() == []


# --- every property and method of the class --------------------------------------------------
# Each control with a value it accepts and what its query then gives back. Booleans come back
# as the 2450's 1/0, which PyMeasure's string-valued filter_state passes through as a number.
CONTROLS = {
    "source_mode": ("current", "current"),
    "current_range": (1e-3, 1e-3),
    "current_nplc": (0.5, 0.5),
    "compliance_current": (0.01, 0.01),
    "source_current": (1e-3, 1e-3),
    "source_current_range": (1e-2, 1e-2),
    "source_current_delay": (0.05, 0.05),
    "source_current_delay_auto": (True, True),
    "voltage_range": (2.0, 2.0),
    "voltage_nplc": (2.0, 2.0),
    "compliance_voltage": (5.0, 5.0),
    "source_voltage": (0.5, 0.5),
    "source_voltage_range": (20.0, 20.0),
    "source_voltage_delay": (0.02, 0.02),
    "source_voltage_delay_auto": (False, False),
    "resistance_range": (2e3, 2e3),
    "resistance_nplc": (0.1, 0.1),
    "wires": (4, 4),
    "buffer_points": (1000, 1000),
    "current_filter_type": ("MOV", "MOV"),
    "current_filter_count": (20, 20),
    "current_filter_state": ("ON", 1),
    "voltage_filter_type": ("REP", "REP"),
    "voltage_filter_count": (50, 50),
    "current_output_off_state": ("HIMP", "HIMP"),
    "voltage_output_off_state": ("ZERO", "ZERO"),
}
# Read-only properties of the class itself (the SCPIMixin's id/status/... come on top).
MEASUREMENTS = [
    "source_enabled",
    "current",
    "voltage",
    "resistance",
    "means",
    "maximums",
    "minimums",
    "standard_devs",
]
# These index the statistics as a 2400's per-function list ([0] voltage, [1] current, ...);
# the native 2450 answers each statistic with one number (of the buffer's readings), so
# PyMeasure fails on them in its own code, after the instrument answered without an error.
LIST_INDEXING = [
    f"{stat}_{quantity}"
    for stat in ("mean", "max", "min", "std")
    for quantity in ("voltage", "current", "resistance")
]
METHODS = {  # native-SCPI methods with the arguments a script would give them
    "enable_source": (),
    "disable_source": (),
    "measure_resistance": (),
    "measure_voltage": (),
    "measure_current": (),
    "auto_range_source": (),
    "apply_current": (),
    "apply_voltage": (),
    "beep": (1000, 0.01),
    "triad": (500, 0.001),
    "ramp_to_current": (1e-4, 3, 0.0),
    "ramp_to_voltage": (0.1, 3, 0.0),
    "trigger": (),
    "use_rear_terminals": (),
    "use_front_terminals": (),
    "start_buffer": (),
    "stop_buffer": (),
    "is_buffer_full": (),
    "shutdown": (),
    "reset": (),
}
# What the native 2450 refuses, with the error it queues: the 2400-emulation buffer helpers,
# and *OPT?, which is not among the 2450's common commands.
REFUSED = {
    "config_buffer": -113,
    "reset_buffer": -113,
    "disable_buffer": -113,
    "buffer_data": -109,
    "options": -113,
}


def test_the_lists_cover_every_command_the_class_defines() -> None:
    own = {
        name
        for name, value in vars(Keithley2450).items()
        if isinstance(value, property) and name != "error"  # `error` is deprecated
    }
    assert own == set(CONTROLS) | set(MEASUREMENTS) | set(LIST_INDEXING)
    methods = {
        name
        for name, value in inspect.getmembers(Keithley2450, inspect.isfunction)
        if name in vars(Keithley2450) or name in vars(Keithley2450.__mro__[1])
    } - {"__init__"}
    refused = {name for name in REFUSED if name not in ("buffer_data", "options")}
    assert methods == set(METHODS) | refused | {"wait_for_buffer"}


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_every_control_reads_back_what_it_set(smu: Keithley2450, name: str) -> None:
    value, expected = CONTROLS[name]
    setattr(smu, name, value)
    got = getattr(smu, name)
    if isinstance(expected, float):
        assert got == pytest.approx(expected)
    else:
        assert got == expected
    assert smu.check_errors() == []


@pytest.mark.parametrize("name", [*MEASUREMENTS, "id", "status", "complete"])
def test_every_measurement_is_answered_without_an_error(smu: Keithley2450, name: str) -> None:
    smu.apply_current(compliance_voltage=10)
    smu.source_current = PROBE_A
    smu.enable_source()
    smu.measure_voltage()
    for _ in range(3):
        smu.voltage  # noqa: B018 - fills the buffer the statistics read
    assert getattr(smu, name) is not None
    assert smu.check_errors() == []


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_native_method_runs_without_an_error(smu: Keithley2450, name: str) -> None:
    getattr(smu, name)(*METHODS[name])
    assert smu.check_errors() == []


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_the_native_2450_refuses_gets_the_documented_error_and_an_answer(
    smu: Keithley2450, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    attribute = inspect.getattr_static(Keithley2450, name)
    with caplog.at_level(logging.ERROR, logger="pymeasure"):
        if name == "buffer_data":
            with pytest.raises(ValueError, match="could not convert"):
                smu.buffer_data  # noqa: B018 - answered, empty, at once: never left hanging
        elif isinstance(attribute, property):
            getattr(smu, name)
        else:
            getattr(smu, name)()
        smu.check_errors()  # those the method did not read itself
    codes = {int(r.getMessage().split(": ")[1].split(".")[0]) for r in caplog.records}
    assert codes == {REFUSED[name]}


def test_the_statistics_summarise_the_buffers_readings(smu: Keithley2450) -> None:
    smu.apply_current(compliance_voltage=10)
    smu.source_current = PROBE_A
    smu.enable_source()
    smu.measure_voltage()
    smu.write(':TRAC:CLE "defbuffer1"')
    readings = [smu.voltage for _ in range(6)]
    assert smu.means == pytest.approx(statistics.fmean(readings), abs=1e-9)
    assert smu.minimums == pytest.approx(min(readings), abs=1e-9)
    assert smu.maximums == pytest.approx(max(readings), abs=1e-9)
    assert smu.standard_devs == pytest.approx(statistics.stdev(readings), rel=1e-4)
    for name in LIST_INDEXING:
        with pytest.raises(TypeError):
            getattr(smu, name)
    assert smu.check_errors() == []
