"""The Keithley 2450 simulator's SCPI dialect, spoken over pyvisa-py through VisaTransport.

These check the simulator against the documented protocol (SCPI 1999 / IEEE 488.2 and the
2450 reference manual), independently of the driver: header forms, paths, parameters and
the error numbers a malformed command must put on the error queue.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_attach import attached

from drivers.errors import InstrumentConnectionError, InstrumentTimeout
from drivers.transports.visa import VisaTransport
from simulators.cell import Cell, load_preset
from simulators.clock import SimClock
from simulators.keithley2450 import Keithley2450Simulator
from simulators.keithley2450.scpi import Pattern, Unit, parse_message

PRESET = "gao2025-dfncm-llzo"


@pytest.fixture
async def wire() -> AsyncIterator[tuple[Keithley2450Simulator, VisaTransport]]:
    cell = Cell(load_preset(PRESET), soc=0.5, seed=3)
    sim = Keithley2450Simulator(cell, clock=SimClock(math.inf), seed=3)
    host, port = await sim.start_tcp()
    transport = VisaTransport(f"TCPIP::{host}::{port}::SOCKET", name="2450 sim", timeout_s=1.0)
    await transport.open()
    async with attached(sim, transport, close=transport.shutdown) as pair:
        yield pair


async def next_error(transport: VisaTransport) -> int:
    reply = await transport.query(":SYST:ERR?")
    return int(reply.split(",")[0])


async def test_identity_language_and_empty_error_queue(wire) -> None:
    _, t = wire
    assert await t.query("*IDN?") == "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.12b"
    assert await t.query("*LANG?") == "SCPI"
    assert await t.query("*OPC?") == "1"
    assert await t.query(":SYST:ERR?") == '0,"No error"'


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (":SOUR:CURR:BOGUS 1", -113),  # no such node
        (":SOURCES:CURR 1", -113),  # neither short nor long form
        (":SOU:CURR 1", -113),  # a truncated mnemonic is not a short form
        (":SOUR2:CURR 0", -114),  # a single-channel instrument only has suffix 1
        (":SOUR:CURR 5", -222),  # beyond ±1.05 A
        (":SOUR:CURR:VLIM 0.001", -222),  # below the 20 mV minimum
        (":SOUR:CURR", -109),  # the level is missing
        (":SOUR:CURR 1e-3,2e-3", -108),  # one parameter too many
        (":OUTP MAYBE", -104),  # not a boolean
        (":OUTP 2", -224),  # a number, but not 0 or 1
        (":OUTP:CURR:SMOD FLOAT", -224),  # not an output-off state
        (':SENS:FUNC "OHMS"', -224),  # no such measure function
        (":SENS:FUNC VOLT", -104),  # the function must be a string
        (':SENS:FUNC "VOLT', -102),  # unterminated string
        (":SOUR:CURR 1mA", -138),  # the 2450 takes no unit suffixes here
        ("*IDN? 1", -108),  # a query without parameters
        ("*FOO", -113),  # no such common command
        (':READ? "nobuffer"', -224),  # no such reading buffer
        (':READ? "defbuffer1", VOLTS', -224),  # no such buffer element
        (":SOUR:CURR 1e-3;VLIM 4", -113),  # relative path: this is :SOUR:VLIM
    ],
)
async def test_malformed_scpi_gets_the_right_error_number(wire, message, code) -> None:
    _, t = wire
    if "?" in message:  # a query that fails is still answered, so the client never waits
        assert await t.query(message) == ""
    else:
        await t.write(message)
    assert await next_error(t) == code
    assert await next_error(t) == 0  # exactly one error per bad command


async def test_short_long_and_optional_forms_name_the_same_setting(wire) -> None:
    _, t = wire
    await t.write(":SOURce1:CURRent:LEVel:IMMediate:AMPLitude -2.5e-3")
    assert float(await t.query(":sour:curr?")) == pytest.approx(-2.5e-3)
    await t.write(":source:current 1.5E-3")
    assert float(await t.query(":SOUR:CURR:LEV?")) == pytest.approx(1.5e-3)
    await t.write(":SOUR:CURR MAX")
    assert float(await t.query(":SOUR:CURR?")) == pytest.approx(1.05)
    assert await next_error(t) == 0


async def test_compound_messages_follow_the_scpi_path_rules(wire) -> None:
    _, t = wire
    # after :SOUR:CURR:LEV the path is :SOUR:CURR:, so VLIM continues there
    reply = await t.query(":SOUR:CURR:LEV 2e-3;VLIM 4.25;:SOUR:CURR:VLIM?;*OPC?;:SOUR:CURR?")
    vlim, opc, level = reply.split(";")
    assert float(vlim) == pytest.approx(4.25) and opc == "1"
    assert float(level) == pytest.approx(2e-3)
    assert await next_error(t) == 0


async def test_error_queue_is_fifo_and_cleared_by_cls(wire) -> None:
    sim, t = wire
    await t.write(":NOPE")
    await t.write(":SOUR:CURR 9")
    assert await t.query(":SYST:ERR:COUN?") == "2"
    assert await next_error(t) == -113
    assert await next_error(t) == -222
    sim.inject_error(-315, "Configuration memory lost")
    reply = await t.query(":SYST:ERR?")
    assert reply == '-315,"Configuration memory lost"'
    await t.write(":NOPE")
    await t.write("*CLS")
    assert await next_error(t) == 0


async def test_read_returns_the_requested_elements_of_a_current_source(wire) -> None:
    sim, t = wire
    for line in (
        ":SOUR:FUNC CURR",
        ':SENS:FUNC "VOLT"',
        ":SENS:VOLT:RSEN ON",
        ":SOUR:CURR -1e-3",
        ":SOUR:CURR:VLIM 5",
        ":OUTP ON",
        ':TRAC:CLE "defbuffer1"',
    ):
        await t.write(line)
    first = await t.query(':READ? "defbuffer1", SOUR, READ, REL')
    source, volts, rel = (float(x) for x in first.split(","))
    assert source == pytest.approx(-1e-3)
    assert volts == pytest.approx(sim.cell.voltage(-1e-3), abs=1e-3)
    assert rel == 0.0
    await sim.clock.sleep(30.0)  # the host waits 30 s on the shared clock
    second = await t.query(':READ? "defbuffer1", REL, UNIT, SOURUNIT')
    rel, unit, source_unit = second.split(",")
    assert float(rel) == pytest.approx(30.0)
    assert (unit, source_unit) == ("Volt DC", "Amp DC")
    assert await t.query(':TRAC:ACT? "defbuffer1"') == "2"
    both = await t.query(':TRAC:DATA? 1, 2, "defbuffer1", REL')
    assert [float(x) for x in both.split(",")] == pytest.approx([0.0, 30.0])
    assert await next_error(t) == 0


async def test_voltage_limit_trips_and_the_current_falls(wire) -> None:
    sim, t = wire
    ocv = sim.cell.voltage(0.0)
    for line in (":SOUR:FUNC CURR", ':SENS:FUNC "VOLT"', ":SENS:VOLT:RSEN ON"):
        await t.write(line)
    await t.write(f":SOUR:CURR 0.5;:SOUR:CURR:VLIM {ocv + 0.02:.4f};:OUTP ON")
    source, volts = (
        float(x) for x in (await t.query(':READ? "defbuffer1", SOUR, READ')).split(",")
    )
    assert await t.query(":SOUR:CURR:VLIM:TRIP?") == "1"
    assert volts == pytest.approx(ocv + 0.02, abs=1e-3)  # held at the limit
    assert 0 < source < 0.5  # far less than programmed flows
    await t.write(":SOUR:CURR 1e-6")  # a trickle stays below the limit
    await t.query(":READ?")
    assert await t.query(":SOUR:CURR:VLIM:TRIP?") == "0"


async def test_output_off_in_himp_opens_the_relay(wire) -> None:
    sim, t = wire
    await t.write(':SOUR:FUNC CURR;:SENS:FUNC "VOLT";:OUTP:CURR:SMOD HIMP;:OUTP OFF')
    assert abs(float(await t.query(":READ?"))) < 0.01  # nothing connected to the voltmeter
    assert await t.query(":OUTP:CURR:SMOD?") == "HIMP"
    await t.write(":OUTP:CURR:SMOD NORM")
    assert float(await t.query(":READ?")) == pytest.approx(sim.cell.ocv(), abs=0.05)


async def test_rst_restores_the_defaults(wire) -> None:
    sim, t = wire
    await t.write(":SOUR:FUNC CURR;:SOUR:CURR 1e-3;:OUTP ON")
    assert sim.output_on
    await t.write("*RST")
    assert not sim.output_on
    assert float(await t.query(":SOUR:CURR?")) == 0.0
    assert await t.query(":SOUR:FUNC?") == "VOLT"


@pytest.mark.parametrize("language", ["SCPI2400", "TSP"])
async def test_other_command_sets_do_not_know_the_native_tree(language) -> None:
    cell = Cell(load_preset(PRESET), seed=1)
    sim = Keithley2450Simulator(cell, language=language)
    host, port = await sim.start_tcp()
    t = VisaTransport(f"TCPIP::{host}::{port}::SOCKET", name="2450 sim", timeout_s=1.0)
    await t.open()
    async with attached(sim, t, close=t.shutdown):
        assert await t.query("*LANG?") == language
        await t.write(":SOUR:CURR 1e-3")
        assert sim.instrument.errors[0][0] == -113
        assert sim.instrument.smu.current_level_A == 0.0


async def test_the_transport_names_a_dropped_connection_and_reconnects(wire) -> None:
    sim, t = wire
    sim.faults.drop_after_reads = 0
    with pytest.raises(InstrumentConnectionError, match=r"2450 sim at TCPIP::127\.0\.0\.1"):
        await t.query(":READ?")
    assert await t.query("*OPC?") == "1"  # the next command reconnects
    assert sim.connections == 2


async def test_the_transport_times_out_and_never_reads_a_late_reply(wire) -> None:
    sim, t = wire
    sim.stall(0.5)
    with pytest.raises(InstrumentTimeout, match=r"sent no reply within 0\.2 s"):
        await t.query("*IDN?", timeout_s=0.2)
    await sim._wait_stall()
    assert await t.query("*OPC?") == "1"  # not the late *IDN? reply


@settings(max_examples=60)
@given(data=st.data())
def test_any_mix_of_short_and_long_forms_in_any_case_matches(data) -> None:
    pattern = Pattern.parse(":SOURce#:CURRent[:LEVel][:IMMediate][:AMPLitude]")
    words = []
    for node in pattern.nodes:
        if node.optional and data.draw(st.booleans()):
            continue
        word = data.draw(st.sampled_from([node.short, node.long]))
        cased = "".join(ch.lower() if data.draw(st.booleans()) else ch for ch in word)
        words.append(cased + ("1" if node.suffix and data.draw(st.booleans()) else ""))
    (unit,) = parse_message(":" + ":".join(words) + " 1e-3")
    assert isinstance(unit, Unit) and unit.params[0].number == pytest.approx(1e-3)
    assert pattern.match(list(unit.tokens))
    assert not pattern.match([*unit.tokens, "VLIM"])


async def test_a_slow_instrument_does_not_block_the_event_loop(wire) -> None:
    sim, t = wire
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    sim.stall(0.3)
    try:
        assert await t.query("*OPC?") == "1"  # answered once the stall is over
    finally:
        task.cancel()
    assert ticks >= 5  # the loop kept running while the worker thread waited (~30 idle)


async def test_wire_traffic_is_logged_at_debug_level(wire, caplog) -> None:
    _, t = wire
    with caplog.at_level(logging.DEBUG, logger="cellbench.wire"):
        await t.query("*LANG?")
    lines = [r.getMessage() for r in caplog.records if r.name == "cellbench.wire"]
    assert "2450 sim > '*LANG?'" in lines and "2450 sim < 'SCPI'" in lines


async def test_a_bad_resource_string_is_one_clear_sentence() -> None:
    with pytest.raises(InstrumentConnectionError, match="not a VISA resource string"):
        VisaTransport("192.168.0.20:5025", name="2450")
    nobody = VisaTransport("TCPIP::127.0.0.1::1::SOCKET", name="2450", connect_timeout_s=1.0)
    with pytest.raises(InstrumentConnectionError, match="cannot connect to 2450 at TCPIP::127"):
        await nobody.open()
    await nobody.shutdown()


async def test_a_fixed_range_below_the_reading_overflows_and_autorange_follows(wire) -> None:
    sim, t = wire
    await t.write(':SENS:FUNC "VOLT";:SENS:VOLT:RANG 0.15')
    assert float(await t.query(":SENS:VOLT:RANG?")) == 0.2  # the 200 mV range holds 150 mV
    assert await t.query(":SENS:VOLT:RANG:AUTO?") == "0"  # a range switches autorange off
    assert float(await t.query(":READ?")) == 9.9e37  # the cell's ~3.9 V overflows it
    await t.write(":SENS:VOLT:RANG:AUTO ON")
    assert float(await t.query(":READ?")) == pytest.approx(sim.cell.ocv(), abs=0.05)
    assert float(await t.query(":SENS:VOLT:RANG?")) == 20.0
    assert await next_error(t) == 0


async def test_errors_set_their_class_bit_in_the_standard_event_register(wire) -> None:
    _, t = wire
    await t.write(":NOPE")  # a command error
    await t.write(":SOUR:CURR 9")  # an execution error
    await t.write("*ESE 48")
    assert await t.query("*STB?") == str(4 | 32)  # error queue and event summary
    assert await t.query("*ESR?") == str(32 | 16)
    assert await t.query("*ESR?") == "0"  # reading it clears it
    await t.write("*CLS")
    assert await t.query("*STB?") == "0"
