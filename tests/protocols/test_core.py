"""Loading, binding, sequencing and estimating protocols."""

from __future__ import annotations

import json
import math

import pytest

import protocols as P
from protocols.estimate import estimate
from protocols.steps import (
    AdvanceCycle,
    ConstantCurrent,
    ConstantVoltage,
    Limit,
    Rest,
    StepOutcome,
)

RATE = P.LIBRARY / "gao2025" / "rate.yaml"

SIMPLE = """
name: simple
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 10 mA}
steps:
  - rest: {duration: 10 min}
  - cc: {current: 1 mA, direction: charge, until: ["voltage >= 4.2 V"]}
  - "Hold at 4.2 V until 0.05 mA"
  - "Discharge at 2 mA for 30 minutes or until 3.0 V"
"""


def ended_by(step, quantity: str) -> StepOutcome:
    """The outcome a runner reports when `quantity`'s limit fired."""
    for lim in step.limits:
        if lim.quantity == quantity:
            return StepOutcome(fired=lim, reason=lim.label)
    raise AssertionError(f"{step} has no {quantity} limit")


def walk(plan, pick=None, max_steps=100_000):
    """Run the sequencer to the end; `pick(step)` chooses the outcome (default: first limit)."""
    seq = P.Sequencer(plan)
    out = []
    step = seq.next(None)
    while step is not None:
        out.append(step)
        assert len(out) < max_steps
        outcome = pick(step) if pick else StepOutcome(fired=step.limits[0] if step.limits else None)
        step = seq.next(outcome)
    return out, seq


def test_absolute_currents_bind_without_a_cell():
    plan = P.loads(SIMPLE).bind()
    kinds = [type(s) for s in plan.steps]
    assert kinds == [Rest, ConstantCurrent, ConstantVoltage, ConstantCurrent]
    rest, cc, cv, dis = plan.steps
    assert rest.limits[0].quantity == "step_time" and rest.limits[0].value == 600
    assert cc.current_A == pytest.approx(1e-3) and cc.limits[0].op == ">="
    assert cv.voltage_V == pytest.approx(4.2)
    # PyBaMM meaning: a current termination on a hold ends when |I| falls below it.
    lim = next(lim for lim in cv.limits if lim.quantity == "abs_current")
    assert lim.op == "<" and lim.value == pytest.approx(50e-6)
    # "Discharge ... for 30 minutes or until 3.0 V": negative current, both ends, V falls.
    assert dis.current_A == pytest.approx(-2e-3)
    ends = {lim.quantity: lim for lim in dis.limits}
    assert ends["step_time"].value == 1800
    assert ends["voltage"].op == "<=" and ends["voltage"].value == pytest.approx(3.0)
    assert plan.safety.voltage_max_V == 4.4 and plan.safety.abs_current_max_A == pytest.approx(0.01)


def test_rate_ladder_resolves_against_200_mA_per_g():
    basis = P.CapacityBasis.from_specific(0.015, 200.0)  # 15 mg: 1C = 3 mA
    plan = P.load(RATE).bind(basis)
    ccs = [s for s in plan.steps if isinstance(s, ConstantCurrent)]
    discharge_rates = [-s.c_rate for s in ccs if s.current_A < 0]
    assert discharge_rates == pytest.approx([0.1, 0.2, 0.5, 1, 2, 3, 0.1])
    for s in ccs:
        assert s.current_A == pytest.approx(s.c_rate * 3e-3)
        volts = [lim.value for lim in s.limits if lim.quantity == "voltage"]
        assert volts == [pytest.approx(4.3 if s.current_A > 0 else 3.0)]
    assert plan.basis.one_c_A == pytest.approx(3e-3)


def test_rate_ladder_walks_five_cycles_per_rate_and_counts_cycles():
    plan = P.load(RATE).bind(P.CapacityBasis.from_specific(0.012, 200.0))
    steps, seq = walk(plan)
    discharges = [s for s in steps if isinstance(s, ConstantCurrent) and s.current_A < 0]
    assert len(discharges) == 35
    assert [round(-s.c_rate, 3) for s in discharges[::5]] == [0.1, 0.2, 0.5, 1, 2, 3, 0.1]
    assert sum(isinstance(s, AdvanceCycle) for s in steps) == 35
    assert seq.cycle == 36 and seq.finished


def test_binding_needs_a_cell_for_c_rates():
    with pytest.raises(P.ProtocolError) as err:
        P.load(RATE).bind()
    assert "needs a cell" in str(err.value)


def test_counter_electrode_conversion_li_in():
    text = """
name: liin
safety: {voltage_min: 2.0 V vs Li/Li+, voltage_max: 4.4 V vs Li/Li+, abs_current_max: 1C}
steps:
  - cc: {rate: 0.1C, direction: charge, until: [{voltage: ">= 4.25 V vs Li/Li+"}]}
  - cc: {rate: 0.1C, direction: discharge, until: [{voltage: "<= 3.0 V vs Li-In"}]}
"""
    plan = P.loads(text).bind(P.CapacityBasis.from_nominal(2.0), counter_electrode_V=0.62)
    up, down = plan.steps
    assert up.limits[0].value == pytest.approx(4.25 - 0.62)
    assert down.limits[0].value == pytest.approx(
        3.0
    )  # vs Li-In on a Li-In cell is the cell voltage
    assert plan.safety.voltage_max_V == pytest.approx(4.4 - 0.62)
    assert up.current_A == pytest.approx(0.2e-3)


def test_cell_spec_yaml_and_toml(tmp_path):
    y = tmp_path / "cell.yaml"
    y.write_text("name: c1\nactive_mass_mg: 12\nspecific_capacity_mAh_g: 200\narea_cm2: 1.13\n")
    basis = P.CellSpec.load(y).basis()
    assert basis.one_c_A == pytest.approx(2.4e-3) and basis.area_cm2 == 1.13
    t = tmp_path / "cell.toml"
    t.write_text(
        'name = "c2"\narea_cm2 = "0.785 cm2"\nloading_mg_cm2 = 30.6\n'
        'specific_capacity_mAh_g = 200\ncounter_electrode = "Li-In"\n'
    )
    spec = P.CellSpec.load(t)
    assert spec.active_mass_mg == pytest.approx(30.6 * 0.785)
    assert spec.counter_electrode_V == pytest.approx(0.62)
    assert spec.basis().one_c_A == pytest.approx(30.6 * 0.785 * 200 / 1e6)
    n = P.CapacityBasis.from_nominal(5.0)
    assert n.one_c_A == pytest.approx(5e-3)
    a = P.CapacityBasis.from_areal(2.0, 7.1)
    assert a.one_c_A == pytest.approx(14.2e-3)


def test_cell_spec_errors_name_the_field(tmp_path):
    y = tmp_path / "cell.yaml"
    y.write_text("name: c1\nactive_mass_mg: -3\ncolour: blue\n")
    with pytest.raises(P.ProtocolError) as err:
        P.CellSpec.load(y)
    text = str(err.value)
    assert "active_mass_mg" in text and "colour" in text


LOOPS = """
name: loops
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 10 mA}
steps:
  - tag: aging
  - cc: {current: 1 mA, direction: charge, until: ["voltage >= 4.2 V"]}
  - cc:
      current: 1 mA
      direction: discharge
      until:
        - voltage <= 3.0 V
        - {step_time: ">= 5 h", action: end_loop}
  - advance_cycle: {}
  - loop: {loop_to: aging, count: 3}
  - rest: {duration: 1 h, tag: final}
"""


def test_loop_to_tag_runs_count_total_passes():
    plan = P.loads(LOOPS).bind()
    assert [(s.start, s.end, s.count) for s in plan.loops] == [(0, 2, 3)]
    steps, seq = walk(plan)
    assert sum(isinstance(s, AdvanceCycle) for s in steps) == 3
    assert isinstance(steps[-1], Rest) and seq.cycle == 4


def test_end_loop_action_leaves_the_loop():
    plan = P.loads(LOOPS).bind()

    def pick(step):
        if isinstance(step, ConstantCurrent) and step.current_A < 0:
            return ended_by(step, "step_time")  # the capacity never fell to 3.0 V
        return StepOutcome(fired=step.limits[0] if step.limits else None)

    steps, _ = walk(plan, pick)
    assert [type(s).__name__ for s in steps] == ["ConstantCurrent", "ConstantCurrent", "Rest"]


def test_goto_and_end_test_actions():
    text = """
name: goto
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 10 mA}
steps:
  - cc:
      current: 1 mA
      direction: charge
      until: ["voltage >= 4.2 V", {step_time: ">= 1 h", goto: skip}]
  - rest: {duration: 1 h}
  - rest: {duration: 2 h, tag: skip, until: [{dV_dt: "< 1 mV/h", action: end_test}]}
  - rest: {duration: 3 h}
"""
    plan = P.loads(text).bind()
    seq = P.Sequencer(plan)
    first = seq.next(None)
    jump = seq.next(ended_by(first, "step_time"))
    assert jump.index == 2 and jump.tag == "skip"
    assert seq.next(ended_by(jump, "dV_dt")) is None and seq.finished


def test_state_restore_resumes_at_interrupted_step():
    plan = P.load(RATE).bind(P.CapacityBasis.from_specific(0.012, 200.0))
    seq = P.Sequencer(plan)
    step = seq.next(None)
    for _ in range(40):
        step = seq.next(StepOutcome(fired=step.limits[0] if step.limits else None))
    state = json.loads(json.dumps(seq.state()))
    again = P.Sequencer.restore(plan, state)
    assert again.next(None) is step and again.cycle == seq.cycle
    # both continue identically
    a = seq.next(StepOutcome(fired=step.limits[0] if step.limits else None))
    b = again.next(StepOutcome(fired=step.limits[0] if step.limits else None))
    assert a is b
    other = P.loads(SIMPLE).bind()
    with pytest.raises(P.ProtocolError):
        P.Sequencer.restore(other, state)


def test_estimate_bounds_and_resources():
    plan = P.load(RATE).bind(P.CapacityBasis.from_specific(0.012, 200.0))
    est = estimate(plan)
    # typical: 1 h rest + 5 cycles per rate × (2/C h + 20 min)
    rates = [0.1, 0.2, 0.5, 1, 2, 3, 0.1]
    expected = 3600 + sum(5 * (2 * 3600 / r + 1200) for r in rates)
    assert est.typical_s == pytest.approx(expected)
    assert est.max_s is None and est.unbounded  # CC steps end on voltage only
    assert est.resources.max_abs_current_A == pytest.approx(3 * 2.4e-3)
    assert not est.resources.eis and not est.resources.chamber


def test_pybamm_strings_in_a_protocol_keep_pybamm_default_duration():
    text = """
name: pyb
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 2C}
steps:
  - "Discharge at 0.5C until 3.0 V"
  - "Rest for 1 hour"
  - "Charge at 1 A for 30 minutes or until 4.2 V"
"""
    with pytest.raises(P.ProtocolError) as err:  # 1 A is above 2C of a 2 mAh cell
        P.loads(text).bind(P.CapacityBasis.from_nominal(2.0))
    assert "abs_current_max" in str(err.value)
    plan = P.loads(text).bind(P.CapacityBasis.from_nominal(2000.0))
    dis = plan.steps[0]
    assert dis.current_A == pytest.approx(-1.0) and dis.c_rate == pytest.approx(-0.5)
    cap = next(lim for lim in dis.limits if lim.quantity == "step_time")
    assert cap.value == pytest.approx(4 * 3600)  # PyBaMM: 2/|C| hours
    assert plan.steps[1].limits[0].value == 3600
    charge = plan.steps[2]
    assert charge.current_A == pytest.approx(1.0) and charge.c_rate == pytest.approx(0.5)


def test_parameters_override():
    proto = P.load(RATE)
    plan = proto.bind(
        P.CapacityBasis.from_specific(0.01, 200.0),
        overrides={"rates": ["1C", "2C"], "cycles_per_rate": 2, "v_max": "4.25 V vs Li/Li+"},
    )
    ccs = [s for s in plan.steps if isinstance(s, ConstantCurrent) and s.current_A > 0]
    assert [s.c_rate for s in ccs] == [1.0, 2.0]
    assert all(s.limits[0].value == pytest.approx(4.25) for s in ccs)
    assert [s.count for s in plan.loops] == [2, 2]
    with pytest.raises(P.ProtocolError) as err:
        proto.bind(P.CapacityBasis.from_nominal(1.0), overrides={"nope": 1})
    assert "unknown parameter 'nope'" in str(err.value)


def test_limit_holds():
    lim = Limit("voltage", "<=", 3.0)
    assert lim.holds(2.99) and lim.holds(3.0) and not lim.holds(3.01)
    assert math.isfinite(P.load(RATE).check().steps[1].c_rate)
