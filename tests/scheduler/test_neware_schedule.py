"""A bound plan as a Neware step file: read back by the simulator's own step-file reader
(written independently from the same format), every value in the file's units, loops as cycle
steps, protection from the safety block and the slot's hard limits, and one sentence for
each thing the cycler cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols import load, loads
from scheduler.bench import SlotLimits
from scheduler.binding import CellInfo, bind
from scheduler.errors import SchedulerError
from scheduler.neware_schedule import neware_schedule, schedule_problems
from simulators.cell import load_preset
from simulators.neware import parse_step_file

LIBRARY = Path(__file__).resolve().parents[2] / "protocols" / "library"
CELL = CellInfo.from_preset(load_preset("gao2025-dfncm-llzo"), "c1")


def _plan(path: str, **overrides):
    return bind(load(LIBRARY / path), CELL, overrides or None).plan


def test_cycling_becomes_steps_a_cycle_and_protection() -> None:
    plan = _plan("gao2025/cycling-0.5C.yaml", cycles=3)
    hard = SlotLimits(voltage_max_V=4.35, abs_current_max_A=0.01, temperature_max_degC=45)
    made = neware_schedule(plan, hard_limits=hard)
    file = parse_step_file(made.xml)
    one_c = plan.basis.one_c_A
    types = [file.steps[i].step_type for i in sorted(file.steps)]
    # rest, formation cc/rest/dc/rest, then the loop body (cc, rest, dc, dc end, rest),
    # the cycle step and the end step; advance_cycle writes nothing
    assert types == [4, 1, 4, 2, 4, 1, 4, 2, 2, 4, 5, 6]
    charge, tail, loop = file.steps[6], file.steps[9], file.steps[11]
    assert charge.current_A == pytest.approx(0.5 * one_c, rel=1e-5)
    assert charge.stop_volt_V == pytest.approx(4.3)
    assert tail.stop_volt_V == pytest.approx(3.0) and tail.record.dt_s == pytest.approx(5.0)
    assert file.record.dt_s == pytest.approx(10.0) and file.record.dv_V == pytest.approx(0.005)
    assert (loop.start_step, loop.cycle_count) == (6, 3)
    assert file.steps[1].time_s == pytest.approx(3600.0)
    assert file.protect.v_max == pytest.approx(4.35)  # the slot is tighter than 4.4 V
    assert file.protect.v_min == pytest.approx(2.8)
    assert file.protect.i_max_A == pytest.approx(1.5 * one_c, rel=1e-5)
    assert made.host_guards == ("temperature <= 45 degC",)
    assert made.steps[6] == 6 and made.steps[9] == 9 and 11 not in made.steps


def test_a_cccv_charge_and_a_ladder_keep_their_ends() -> None:
    text = """
name: cccv
c_rate_basis: 200 mA/g
safety: {voltage_min: 2.8 V, voltage_max: 4.4 V}
steps:
  - for_each:
      over: {rate: [0.5C, 1C]}
      times: 2
      steps:
        - cccv:
            {rate: "${rate}", direction: charge, voltage: 4.3 V,
             until: ["current <= 0.05C", "time >= 2 h"]}
        - cc:
            {rate: "${rate}", direction: discharge,
             until: ["voltage <= 3.0 V", "capacity >= 5 mAh"]}
        - advance_cycle: {}
"""
    plan = bind(loads(text), CELL).plan
    file = parse_step_file(neware_schedule(plan).xml)
    one_c = plan.basis.one_c_A
    cccv = [s for s in file.steps.values() if s.step_type == 3]
    dc = [s for s in file.steps.values() if s.step_type == 2]
    loops = [s for s in file.steps.values() if s.step_type == 5]
    assert [s.current_A / one_c for s in cccv] == pytest.approx([0.5, 1.0], rel=1e-5)
    assert all(s.volt_V == pytest.approx(4.3) for s in cccv)
    assert all(s.stop_curr_A == pytest.approx(0.05 * one_c, rel=1e-5) for s in cccv)
    assert all(s.time_s == pytest.approx(7200) for s in cccv)
    assert all(s.cap_Ah == pytest.approx(0.005) for s in dc)
    assert [s.cycle_count for s in loops] == [2, 2]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("gao2025/vt-eis.yaml", "EIS cannot run on a Neware BTS channel"),
        ("gao2025/cv.yaml", "voltage sweeps cannot run on a Neware BTS channel"),
        ("kim2025/formation.yaml", "pressure safety limits have no field"),
        ("gao2025/gitt.yaml", "pulse train with ends of its own"),
    ],
)
def test_what_the_cycler_cannot_run_is_one_sentence(path: str, message: str) -> None:
    plan = _plan(path)
    problems = schedule_problems(plan)
    assert any(message in p for p in problems)
    assert all(p.count(". ") == 0 for p in problems)  # one sentence each
    with pytest.raises(SchedulerError, match=message):
        neware_schedule(plan)


def test_ends_and_loops_without_a_field_are_refused() -> None:
    text = """
name: odd
safety: {voltage_min: 2.8 V, voltage_max: 4.4 V}
steps:
  - rest: {duration: 1 h, tag: top}
  - cc: {current: 1 mA, direction: charge, until: ["voltage >= 4.2 V", "dV_dt < 1 mV/h"]}
  - cc:
      {current: 1 mA, direction: discharge,
       until: [{voltage: "<= 3.0 V", action: goto, goto: top}]}
"""
    problems = schedule_problems(bind(loads(text), CELL).plan)
    assert any("no field for" in p and "dV" in p for p in problems), problems
    assert any("then does 'goto'" in p for p in problems)


def test_host_steps_cut_the_plan_into_segments_and_may_not_sit_in_a_loop() -> None:
    from scheduler.neware_schedule import segments

    text = """
name: soak
c_rate_basis: 200 mA/g
safety: {voltage_min: 2.8 V, voltage_max: 4.4 V, temperature_max: 60 degC}
steps:
  - cc: {rate: 1C, direction: charge, until: ["voltage >= 4.3 V"]}
  - set_temperature: {target: 45 degC, soak: 30 min}
  - repeat:
      times: 3
      steps:
        - cc: {rate: 1C, direction: discharge, until: ["voltage <= 3.0 V"]}
        - cc: {rate: 1C, direction: charge, until: ["voltage >= 4.3 V"]}
"""
    plan = bind(loads(text), CELL).plan
    parts = segments(plan)
    assert [(s.on_cycler, s.indices) for s in parts] == [
        (True, (0,)),
        (False, (1,)),
        (True, (2, 3)),
    ]
    assert schedule_problems(plan) == []  # runnable segment by segment
    with pytest.raises(SchedulerError, match="runs in 3 segments"):
        neware_schedule(plan)  # but not as one step file
    second = parse_step_file(neware_schedule(plan, segment=parts[2]).xml)
    assert [s.step_type for s in second.steps.values()] == [2, 1, 5, 6]
    assert second.steps[3].start_step == 1 and second.steps[3].cycle_count == 3
    looped = text.replace("  - set_temperature: {target: 45 degC, soak: 30 min}\n", "").replace(
        "        - cc: {rate: 1C, direction: discharge",
        "        - set_temperature: {target: 45 degC, soak: 30 min}\n"
        "        - cc: {rate: 1C, direction: discharge",
    )
    problems = schedule_problems(bind(loads(looped), CELL).plan)
    assert any("holds a temperature or pressure step" in p for p in problems)
