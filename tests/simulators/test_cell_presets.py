"""Cell presets: bundled files, user files, parameter descriptions, overrides and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import scheduler.cli as cli
from scheduler.cli import (
    app,
    sim_cmd,  # noqa: F401  (registers `sim`)
)
from simulators.cell import PRESET_DIR, Cell, CellParameters, list_presets, load_preset
from simulators.errors import SimulatorError

PAPER_PRESETS = ["gao2025-dfncm", "gao2025-dfncm-llzo", "kim2025-model4-85wt", "ye2025-ncm-pvdf"]
SEEDS = {
    "gao2025-dfncm": "000_e3db0a8732b31df7",
    "gao2025-dfncm-llzo": "000_e3db0a8732b31df7",
    "kim2025-model4-85wt": "003_2e775070d964df08",
    "ye2025-ncm-pvdf": "004_d17fbeefd56eebcb",
}


def test_every_paper_cell_has_a_preset() -> None:
    assert set(PAPER_PRESETS) <= set(list_presets())


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_preset_header_cites_its_paper_and_targets(name: str) -> None:
    text = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert SEEDS[name] in header
    assert "Targets" in header and "Assumptions" in header


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_preset_is_self_consistent(name: str) -> None:
    params = load_preset(name)
    assert params.name == name
    assert params.active_mass_g == pytest.approx(params.loading_mg_cm2 * params.area_cm2 / 1000)
    # the stated L is the electrode-level V/S = active loading / NCM811 density (4.75 g/cm³)
    assert params.diffusion_length_um == pytest.approx(params.loading_mg_cm2 / 4.75 * 10, rel=0.01)
    assert params.particle_radius_um == pytest.approx(3 * params.diffusion_length_um)
    assert "L = V/S" in params.D_convention
    cell = Cell(params)
    assert cell.soc == 0.0 and cell.truth()["one_c_A"] == pytest.approx(
        params.c_rate_basis_mAh_g * params.active_mass_g / 1000
    )


def test_reported_diffusion_coefficients_and_activation_energies() -> None:
    llzo, bare = load_preset("gao2025-dfncm-llzo"), load_preset("gao2025-dfncm")
    assert (llzo.D_cm2_s, bare.D_cm2_s) == (1.43e-8, 1.24e-8)
    assert (llzo.Ea_ct_kJ_mol, bare.Ea_ct_kJ_mol) == (29.76, 33.17)


def test_every_parameter_has_a_unit_and_a_meaning() -> None:
    rows = load_preset("kim2025-model4-85wt").describe()
    names = [row["name"] for row in rows]
    assert names == list(CellParameters.model_fields)
    for row in rows:
        assert row["meaning"], row["name"]
        assert set(row) == {"name", "value", "unit", "meaning"}
    units = {row["name"]: row["unit"] for row in rows}
    assert units["D_cm2_s"] == "cm²/s"
    assert units["Ea_ct_kJ_mol"] == "kJ/mol"
    assert units["R_contact_ohm"] == "Ω"
    numeric = [r for r in rows if isinstance(r["value"], float) and r["name"] != "active_mass_g"]
    assert all(r["unit"] for r in numeric)


def test_overrides_are_validated_and_unknown_names_refused() -> None:
    params = load_preset("gao2025-dfncm-llzo")
    changed = params.with_overrides({"D_cm2_s": 1e-9, "loading_mg_cm2": 30.0})
    assert changed.D_cm2_s == 1e-9
    assert changed.active_mass_g == pytest.approx(30.0 * params.area_cm2 / 1000)
    assert params.D_cm2_s == 1.43e-8  # the original is untouched
    with pytest.raises(SimulatorError, match=r"unknown cell parameter 'D_cm2'.*D_cm2_s"):
        params.with_overrides({"D_cm2": 1e-9})
    with pytest.raises(SimulatorError, match="D_cm2_s"):
        params.with_overrides({"D_cm2_s": -1.0})
    with pytest.raises(SimulatorError, match="v_max"):
        params.with_overrides({"v_max": 2.0})


def test_user_preset_file_by_path(tmp_path: Path) -> None:
    data = yaml.safe_load((PRESET_DIR / "gao2025-dfncm-llzo.yaml").read_text(encoding="utf-8"))
    data["D_cm2_s"] = 5e-9
    path = tmp_path / "my-cell.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    params = load_preset(str(path))
    assert params.name == "my-cell" and params.D_cm2_s == 5e-9
    assert load_preset(path).D_cm2_s == 5e-9


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("D_cm2_s: [1, 2\n", "not valid YAML at line"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("area_cm2: 1\n", "required cell parameter"),
        ("{bogus_field: 1}\n", "unknown cell parameter 'bogus_field'"),
    ],
)
def test_bad_preset_files_give_one_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SimulatorError, match=message) as info:
        load_preset(path)
    assert "bad.yaml" in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_preset_name_lists_the_bundled_ones() -> None:
    with pytest.raises(SimulatorError, match="gao2025-dfncm-llzo"):
        load_preset("no-such-cell")
    with pytest.raises(SimulatorError, match="does not exist"):
        load_preset("/nowhere/cell.yaml")


runner = CliRunner()


def test_cli_lists_presets_as_json() -> None:
    result = runner.invoke(app, ["sim", "presets", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    by_name = {row["name"]: row for row in rows}
    assert set(PAPER_PRESETS) <= set(by_name)
    gao = load_preset("gao2025-dfncm-llzo")
    assert by_name["gao2025-dfncm-llzo"]["capacity_mAh"] == pytest.approx(
        gao.capacity_Ah * 1000, rel=1e-3
    )


def test_cli_shows_one_preset_with_units_and_meanings() -> None:
    result = runner.invoke(app, ["sim", "presets", "kim2025-model4-85wt", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {row["name"]: row for row in data["parameters"]}
    assert rows["P_ref_MPa"]["value"] == 15.0 and rows["P_ref_MPa"]["unit"] == "MPa"
    assert data["derived"]["L2_over_D_s"] == pytest.approx((54.8e-4) ** 2 / 1.3e-8, rel=1e-6)
    text = runner.invoke(app, ["sim", "presets", "kim2025-model4-85wt"], terminal_width=200)
    assert text.exit_code == 0
    lines = [line for line in text.output.splitlines() if "R_contact_ohm" in line]
    assert len(lines) == 1 and "Ω" in lines[0] and "10" in lines[0]


def test_cli_unknown_preset_is_one_line_on_stderr(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "_register", lambda: None)
    with pytest.raises(SystemExit) as info:
        cli.main(["sim", "presets", "no-such-cell"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown cell preset 'no-such-cell'") and err.count("\n") == 1
