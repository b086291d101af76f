"""`cellbench sim run` gives a protocol the chamber and the press its steps need.

Through the CLI, as a user runs it: the library's variable-temperature EIS runs in a simulated
ESPEC chamber and recovers the preset's activation energy of Rct, and says that its 1 MHz top
is beyond what a real EmStat4 slot accepts; kim2025's EIS after the first charge runs in a
Watlow F4T under the press at 15 MPa with its upper frequency brought into the EmStat4's range
by `--param`, and its fitted series resistance is the cell's at 60 °C and 15 MPa (not the far
larger one without stack pressure).
"""

from __future__ import annotations

import pytest
from cli_output import cli_error, cli_json

import protocols
from simulators.cell import load_preset, make_cell

VT_EIS = protocols.LIBRARY / "gao2025" / "vt-eis.yaml"
KIM_EIS = protocols.LIBRARY / "kim2025" / "eis-after-formation.yaml"
EMSTAT4_RANGE = "measures only from 200 kHz to 10 µHz"


@pytest.mark.slow
def test_vt_eis_runs_in_a_simulated_chamber_and_recovers_the_presets_ea(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    preset = "gao2025-dfncm-llzo"
    data = cli_json(capsys, "sim", "run", str(VT_EIS), "--preset", preset, "--db", db)
    assert data["status"] == "completed"
    summary = data["analyses"]["arrhenius_rct"]["summary"]
    assert summary["Ea_kJ_mol"] == pytest.approx(load_preset(preset).Ea_ct_kJ_mol, rel=0.05)
    assert summary["temperatures_degC"] == pytest.approx([25, 35, 45, 55, 65], abs=0.5)
    (note,) = data["beyond_the_instrument"]  # the 1 MHz top is the library's, not the EmStat4's
    assert "1 MHz" in note and EMSTAT4_RANGE in note


@pytest.mark.slow
def test_kim2025_eis_runs_in_a_watlow_chamber_under_the_press(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    preset = "kim2025-model4-75wt"
    data = cli_json(
        capsys,
        *("sim", "run", str(KIM_EIS), "--preset", preset, "--db", db),
        *("--chamber", "watlow", "--param", "f_start=200 kHz"),
    )
    assert data["status"] == "completed" and data["beyond_the_instrument"] == []
    fit = data["analyses"]["eis_fit"]
    (spectrum,) = fit["summary"]["spectra"]
    assert spectrum["temperature_degC"] == pytest.approx(60.0, abs=0.5)
    assert max(fit["result"][0]["fit"]["frequency_Hz"]) == pytest.approx(2e5)
    pressed = make_cell(load_preset(preset), temperature_degC=60.0, pressure_MPa=15.0).truth()
    loose = make_cell(load_preset(preset), temperature_degC=60.0, pressure_MPa=0.0).truth()
    series = pressed["Rs_ohm"] + pressed["R_contact_ohm"]
    assert spectrum["Rs_ohm"] == pytest.approx(series, rel=0.05)
    assert spectrum["Rs_ohm"] < 0.5 * (loose["Rs_ohm"] + loose["R_contact_ohm"])


def test_an_unknown_chamber_is_one_sentence(tmp_path, capsys) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    line = cli_error(capsys, "sim", "run", str(KIM_EIS), "--db", db, "--chamber", "binder")
    assert "--chamber must be espec or watlow, not 'binder'" in line
