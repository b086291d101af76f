"""QCoDeS's own `Keithley2450` driver (MIT) on `cellbench sim`'s Keithley 2450 over pyvisa-py.

Measurements go through `:MEASure? 'defbuffer1'`, sweeps through
`:SOURce:SWEep:<function>:LINear`, `:INITiate` and `:TRACe:DATA?`, as on the instrument; the
voltages are the cell's (four-wire, so without the leads). Every parameter of every
submodule is read, and every settable one reads back what it set, without an instrument
error.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from field_smu import PROBE_A, cell_resistance_ohm
from qcodes.instrument import Instrument
from qcodes.instrument_drivers.Keithley import Keithley2450
from served_bench import ServedBench


@pytest.fixture
def smu(field_smu_bench: ServedBench) -> Iterator[Keithley2450]:
    k = Keithley2450("smu_under_test", field_smu_bench.endpoint("smu"), visalib="@py", timeout=2)
    k.reset()
    k.write("*CLS")
    for module in k.submodules.values():  # which user delay the user_delay parameters name
        if "user_number" in module.parameters:
            module.parameters["user_number"].set(2)
    try:
        yield k
    finally:
        k.write(":OUTP OFF")
        Instrument.close_all()


def errors(k: Keithley2450) -> list[str]:
    out = []
    while not (reply := k.ask(":SYST:ERR?")).startswith("0,"):
        out.append(reply)
    return out


def source_current_sense_voltage(k: Keithley2450) -> None:
    k.source.function("current")
    k.sense.function("voltage")
    k.sense.four_wire_measurement(True)
    k.source.limit(10)


def test_identify_reset_and_an_empty_error_queue(smu: Keithley2450) -> None:
    idn = smu.IDN()
    assert (idn["vendor"], idn["model"]) == ("KEITHLEY INSTRUMENTS", "2450")
    smu.clear_event_register()
    smu.clear_event_log()
    assert errors(smu) == []


def test_four_wire_voltage_at_plus_and_minus_i_gives_the_cells_resistance(
    smu: Keithley2450,
) -> None:
    source_current_sense_voltage(smu)
    smu.output_enabled(True)
    smu.source.current(PROBE_A)
    v_plus = statistics.fmean(smu.sense.voltage() for _ in range(5))
    smu.source.current(-PROBE_A)
    v_minus = statistics.fmean(smu.sense.voltage() for _ in range(5))
    assert (v_plus - v_minus) / (2 * PROBE_A) == pytest.approx(cell_resistance_ohm(), rel=0.02)
    assert errors(smu) == []


def test_a_compliance_trip_holds_the_voltage_limit(smu: Keithley2450) -> None:
    source_current_sense_voltage(smu)
    smu.output_enabled(True)
    ocv = smu.sense.voltage()
    smu.source.limit(round(ocv + 0.05, 3))
    smu.source.current(0.5)
    assert smu.sense.voltage() == pytest.approx(ocv + 0.05, abs=2e-3)
    assert smu.source.limit_tripped() is True
    assert errors(smu) == []


def test_a_resistance_reading_is_v_over_i(smu: Keithley2450) -> None:
    source_current_sense_voltage(smu)
    smu.source.current(PROBE_A)
    smu.output_enabled(True)
    volts = statistics.fmean(smu.sense.voltage() for _ in range(5))
    smu.sense.function("resistance")
    smu.sense.four_wire_measurement(True)
    ohms = statistics.fmean(smu.sense.resistance() for _ in range(5))
    assert ohms == pytest.approx(volts / PROBE_A, rel=1e-3)
    assert errors(smu) == []


def test_a_linear_sweep_returns_its_points_with_monotonic_source_values(
    smu: Keithley2450,
) -> None:
    source_current_sense_voltage(smu)
    points = 11
    smu.source.sweep_setup(-PROBE_A, PROBE_A, points)
    smu.buffer("defbuffer1").elements(["source_value", "measurement"])
    volts = smu.sense.sweep()
    assert volts.shape == (points,)
    pairs = smu.sense.sweep.get_selected()
    assert pairs is not None
    sourced = np.array([float(x) for x in pairs[0::2]])
    measured = np.array([float(x) for x in pairs[1::2]])
    assert len(sourced) == points and np.all(np.diff(sourced) > 0)
    assert sourced == pytest.approx(smu.source.sweep_axis(), abs=1e-12)
    assert measured == pytest.approx(volts)
    slope = np.polyfit(sourced, volts, 1)[0]  # dV/dI across the sweep
    assert slope == pytest.approx(cell_resistance_ohm(), rel=0.03)
    assert smu.buffer("defbuffer1").number_of_readings() == 0  # QCoDeS clears it after
    assert errors(smu) == []


def test_a_buffer_trigger_makes_count_readings_of_the_cell(smu: Keithley2450) -> None:
    source_current_sense_voltage(smu)
    smu.source.current(PROBE_A)
    smu.output_enabled(True)
    reference = smu.sense.voltage()
    buffer = smu.buffer("defbuffer1")
    buffer.clear_buffer()
    smu.sense.count(4)
    buffer.trigger_start()  # :TRACe:TRIGger 'defbuffer1'
    assert buffer.number_of_readings() == 4
    readings = buffer.get_data(1, 4, readings_only=True)
    assert readings == pytest.approx([reference] * 4, abs=1e-3)
    assert errors(smu) == []


def test_output_off(smu: Keithley2450) -> None:
    source_current_sense_voltage(smu)
    smu.source.current(PROBE_A)
    smu.output_enabled(True)
    assert smu.output_enabled() is True
    smu.output_enabled(False)
    assert smu.output_enabled() is False
    with pytest.raises(RuntimeError, match="Output needs to be on"):
        smu.sense.voltage()
    assert errors(smu) == []


# --- every parameter --------------------------------------------------------------------------
# Parameters that live in the driver only (no instrument command), or need a sweep set up.
HOST_ONLY = {"timeout", "buffer_name", "user_number", "block_during_ramp", "elements"}
NEEDS_SETUP = {"sweep", "sweep_axis", "current", "voltage", "resistance"}
# Values to set, by parameter name (and by submodule where the range differs), and what the
# instrument then answers where that is not the value itself.
VALUES: dict[str, Any] = {
    "source_function": "current",
    "sense_function": "voltage",
    "terminals": "rear",
    "output_enabled": False,
    "auto_range": False,
    "auto_delay": False,
    "read_back_enabled": False,
    "four_wire_measurement": True,
    "auto_zero_enabled": False,
    "delay": 0.25,
    "user_delay": 0.5,
    "nplc": 0.5,
    "count": 3,
    "size": 5000,
}
BY_MODULE = {
    ("_source_current", "range"): 1e-2,
    ("_source_voltage", "range"): 20.0,
    ("_source_current", "limit"): 5.0,
    ("_source_voltage", "limit"): 0.01,
    ("_sense_current", "range"): 1e-3,
    ("_sense_voltage", "range"): 2.0,
    ("_sense_resistance", "range"): 2e3,
}
ANSWERS = {"terminals": "REAR", "count": "3", "size": 5000}


def parameters(k: Keithley2450) -> list[tuple[str, Any]]:
    """(submodule key, parameter) for every parameter of the driver and its submodules."""
    out = [("", p) for p in k.parameters.values()]
    for key, module in k.submodules.items():
        out += [(key, p) for p in module.parameters.values()]
    return out


def test_every_parameter_is_answered_without_an_error(smu: Keithley2450) -> None:
    read = 0
    for key, p in parameters(smu):
        if p.name in HOST_ONLY | NEEDS_SETUP or not p.gettable:
            continue
        assert p.get() is not None, f"{key}.{p.name}"
        read += 1
    assert read >= 45
    assert errors(smu) == []


def test_every_settable_parameter_reads_back_what_it_set(smu: Keithley2450) -> None:
    checked = 0
    for key, p in parameters(smu):
        if p.name in HOST_ONLY | NEEDS_SETUP or not p.settable:
            continue
        value = BY_MODULE.get((key, p.name), VALUES.get(p.name))
        assert value is not None, f"no value to set for {key}.{p.name}"
        p.set(value)
        got = p.get()
        expected = ANSWERS.get(p.name, value)
        if isinstance(expected, float):
            assert float(got) == pytest.approx(expected), f"{key}.{p.name}"
        else:
            assert got == expected, f"{key}.{p.name}"
        assert errors(smu) == [], f"{key}.{p.name}"
        checked += 1
    assert checked >= 40
