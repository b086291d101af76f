"""Submission checks against the ranges an instrument kind declares: a step beyond the
potentiostat's current range, voltage range or EIS frequency range is refused in one sentence
naming the step, the slot and the limit (the slot's own hard limits are left off here, so the
instrument's ranges are what refuses)."""

from __future__ import annotations

import pytest

import protocols
from scheduler.bench import Bench
from scheduler.checks import fit_problems

BENCH = """
[bench]
name = "ranges"

[instruments.pstat]
kind = "emstat4"
endpoint = "tcp://127.0.0.1:7101"

[instruments.smu]
kind = "keithley2450"
endpoint = "TCPIP0::127.0.0.1::5025::SOCKET"
max_voltage_V = 12.0

[[slots]]
name = "E1"
potentiostat = "pstat"

[[slots]]
name = "K1"
potentiostat = "smu"
"""


def _plan(steps: str) -> object:
    text = f"name: ranges\nsafety: {{voltage_min: -50 V, voltage_max: 50 V}}\nsteps:\n{steps}"
    return protocols.loads(text).bind(None)


@pytest.fixture
def bench() -> Bench:
    return Bench.from_text(BENCH)


def test_a_spectrum_above_the_emstat4s_frequency_range_is_refused(bench) -> None:
    plan = _plan("  - eis: {f_start: 7 MHz, f_end: 10 mHz, amplitude: 20 mV, dc_bias: ocv}\n")
    (problem,) = fit_problems(plan, bench, "E1")
    assert problem.startswith("the protocol's step 0 (PEIS")
    assert problem.endswith(
        "measures impedance from 7 MHz to 10 mHz but slot E1's PalmSens EmStat4 measures only "
        "from 200 kHz to 10 µHz"
    )
    within = _plan("  - eis: {f_start: 100 kHz, f_end: 10 mHz, amplitude: 20 mV}\n")
    assert fit_problems(within, bench, "E1") == []


def test_more_current_than_the_instrument_sources_is_refused(bench) -> None:
    plan = _plan("  - cc: {current: 150 mA, direction: charge, until: [{step_time: '>= 1 min'}]}\n")
    (problem,) = fit_problems(plan, bench, "E1")
    assert problem.startswith("the protocol's step 0 ")
    assert problem.endswith("drives 150 mA but slot E1's PalmSens EmStat4 sources at most 100 mA")
    assert fit_problems(plan, bench, "K1") == []  # a 2450 sources up to 1.05 A


def test_a_voltage_beyond_the_range_and_the_compliance_is_refused(bench) -> None:
    plan = _plan("  - cv: {voltage: 11 V, until: [{step_time: '>= 1 min'}]}\n")
    (problem,) = fit_problems(plan, bench, "E1")
    assert problem.endswith(
        "goes to 11 V, outside the -10–10 V range of slot E1's PalmSens EmStat4"
    )
    higher = _plan("  - cc: {current: 1 mA, direction: charge, until: ['voltage >= 15 V']}\n")
    (problem,) = fit_problems(higher, bench, "K1")
    assert problem.endswith(
        "goes to 15 V but slot K1's Keithley 2450 is set to at most 12 V (max_voltage_V)"
    )
