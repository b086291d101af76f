"""PyBaMM export: strings with PyBaMM's meanings, Experiments that build, and one SPM solve."""

from __future__ import annotations

import json

import pytest

import protocols as P
from protocols.steps import Impedance

pybamm = pytest.importorskip("pybamm")

LIB = P.LIBRARY
FILES = sorted(
    f for paper in ("gao2025", "kim2025", "ye2025") for f in (LIB / paper).glob("*.yaml")
)
CELL = P.CapacityBasis.from_specific(0.010, 200.0, area_cm2=0.785)


@pytest.mark.parametrize("path", FILES, ids=[f"{f.parent.name}/{f.stem}" for f in FILES])
def test_every_library_export_builds_an_experiment(path):
    plan = P.load(path).bind(CELL)
    conditions, omitted = P.to_pybamm(plan)
    has_eis = any(isinstance(s, Impedance) for s in plan.steps)
    if has_eis:
        assert "EIS" in omitted
    if not conditions:
        pytest.skip("no electrochemical steps")
    exp = P.build_experiment(plan)
    assert isinstance(exp, pybamm.Experiment)
    n = sum(len(c) if isinstance(c, tuple) else 1 for c in conditions)
    assert len(exp.steps) == n
    # charge strings are negative current in PyBaMM, discharge positive
    for step in exp.steps:
        if step.description.startswith("Charge"):
            assert step.value < 0 or callable(step.value)
        elif step.description.startswith("Discharge"):
            assert step.value > 0


def test_rate_export_keeps_ladder_and_window():
    conditions, omitted = P.to_pybamm(P.load(LIB / "gao2025" / "rate.yaml"))
    flat = [s for c in conditions for s in (c if isinstance(c, tuple) else (c,))]
    discharges = [s for s in flat if s.startswith("Discharge")]
    assert len(discharges) == 35
    assert discharges[0].startswith("Discharge at 0.1C until <3 V")
    assert any(s.startswith("Discharge at 3C") for s in discharges)
    assert all(">4.3 V" in s for s in flat if s.startswith("Charge"))
    assert "whole-protocol safety limits" in omitted


def test_vt_eis_export_lists_what_it_left_out():
    _, omitted = P.to_pybamm(P.load(LIB / "gao2025" / "vt-eis.yaml"))
    assert "EIS" in omitted and any("chamber" in o for o in omitted)
    _, omitted = P.to_pybamm(P.load(LIB / "kim2025" / "formation.yaml").bind(CELL))
    assert "stack pressure" in omitted


@pytest.mark.slow
def test_short_rate_test_solves_with_spm_inside_its_window():
    """A short rate test (0.5C and 1C, one cycle each) solved by PyBaMM's SPM."""
    plan = P.load(LIB / "gao2025" / "rate.yaml").check(
        overrides={
            "rates": ["0.5C", "1C"],
            "cycles_per_rate": 1,
            "v_min": "3.2 V vs Li/Li+",  # inside the default SPM parameter set's 3.105–4.1 V
            "v_max": "4.05 V vs Li/Li+",
        }
    )
    exp = P.build_experiment(plan)
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), experiment=exp)
    sol = sim.solve()
    volts = sol["Voltage [V]"].entries
    assert volts.min() == pytest.approx(3.2, abs=0.01)  # discharges ended on the 3.2 V cut-off
    assert volts.max() == pytest.approx(4.05, abs=0.01)  # charges ended on the 4.05 V cut-off
    currents = sol["Current [A]"].entries
    assert currents.max() > 0 > currents.min()  # PyBaMM: discharge positive, charge negative
    assert len(sol.cycles) == 2


def test_cli_export_python_and_json(cli, tmp_path):
    rate = str(LIB / "gao2025" / "rate.yaml")
    out = tmp_path / "exp.py"
    result = cli("protocol", "export", rate, "--to", "pybamm", "--output", str(out))
    assert result.code == 0, result.err
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)  # the exported script itself
    assert len(namespace["experiment"].steps) == 141
    result = cli("protocol", "export", rate, "--format", "json", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    config = json.loads(report["content"])
    rebuilt = pybamm.Experiment.from_config({"cycles": config["cycles"]})
    assert len(rebuilt.steps) == 141
    assert config["cellbench"]["omitted"] == report["omitted"]
    bad = cli("protocol", "export", rate, "--to", "biologic")
    assert bad.code == 1 and "unknown export target" in bad.err
    eis_only = cli("protocol", "export", str(LIB / "ye2025" / "conductivity-vs-temperature.yaml"))
    assert eis_only.code == 1 and "no electrochemical steps" in eis_only.err
