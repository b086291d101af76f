"""`cellbench protocol check|show` output: resolved currents, estimate and resources."""

from __future__ import annotations

import json

import pytest

import protocols as P

KIM = str(P.LIBRARY / "kim2025" / "eis-after-cycling.yaml")


def test_check_json_resolves_currents_with_a_cell(cli, tmp_path):
    cell = tmp_path / "cell.toml"
    cell.write_text(
        'name = "m4"\nloading_mg_cm2 = 30.6\narea_cm2 = 0.785\nspecific_capacity_mAh_g = 200\n'
    )
    result = cli("protocol", "check", KIM, "--cell", str(cell), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    one_c = 30.6 * 0.785 * 200 / 1e6
    assert abs(report["basis"]["one_c_A"] - one_c) < 1e-12
    currents = [s["current_A"] for s in report["steps"] if s["kind"] == "ConstantCurrent"]
    assert max(currents) == pytest.approx(0.2 * one_c)
    res = report["estimate"]["resources"]
    assert res["eis"] and res["chamber"] and res["pressure_rig"]
    assert res["eis_f_max_Hz"] == 7e6 and res["eis_f_min_Hz"] == 0.01
    assert res["pressures_Pa"] == [15e6] and res["temperatures_degC"] == [60]
    assert report["estimate"]["typical_s"] > 50 * 2 * 5 * 3600  # 50 cycles at 0.2C ≥ 500 h
    assert report["estimate"]["unbounded"]  # CC steps end on voltage only


def test_check_without_cell_shows_c_rates_and_set_overrides(cli):
    rate = str(P.LIBRARY / "gao2025" / "rate.yaml")
    result = cli(
        "protocol", "check", rate, "--json", "--set", "rates=[1C, 2C]", "--set", "cycles_per_rate=2"
    )
    assert result.code == 0, result.err
    report = json.loads(result.out)
    rates = [s["c_rate"] for s in report["steps"] if s["kind"] == "ConstantCurrent"]
    assert rates == [1.0, -1.0, 2.0, -2.0]
    assert report["needs_cell"]
    human = cli("protocol", "check", rate)
    assert human.code == 0 and "give --cell" in human.out and "cannot bound" in human.out
    bad = cli("protocol", "check", rate, "--set", "nope=1")
    assert bad.code == 1 and "unknown parameter 'nope'" in bad.err


def test_show_and_missing_file(cli, tmp_path):
    result = cli("protocol", "show", KIM, "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["parameters"]["f_start"] == "7 MHz" and data["name"] == "kim2025-eis-after-cycling"
    missing = cli("protocol", "check", str(tmp_path / "nope.yaml"))
    assert missing.code == 1 and "cannot be read" in missing.err
