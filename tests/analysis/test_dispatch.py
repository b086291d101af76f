"""analyze_run: the analyses a protocol names, or those the data calls for, on plain data."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_sim import Recorder, gitt, rate_ladder

from protocols.analysis import AnalysisError
from protocols.analysis.dispatch import analyze_run, diffusion_length_cm, infer_analyses
from simulators.cell import Cell, load_preset

PRESET = load_preset("gao2025-dfncm-llzo")
CELL = {
    "name": "llzo-1",
    "active_mass_g": PRESET.active_mass_g,
    "area_cm2": PRESET.area_cm2,
    "loading_mg_cm2": PRESET.loading_mg_cm2,
    "specific_capacity_mAh_g": 200.0,
    "extra": {"diffusion_length_um": PRESET.diffusion_length_um},
}


def _cycling(cycles: int) -> tuple[dict, list[dict]]:
    """A formation cycle at 0.1C then `cycles` at 0.5C, with step records like a runner's."""
    cell = Cell(PRESET, seed=3)
    rec = Recorder(cell, seed=3)
    one_c = PRESET.one_c_A
    steps = []
    for n, rate in enumerate([0.1] + [0.5] * cycles, start=1):
        kind = "formation" if n == 1 else "aging"
        for index, current, limit in ((1, rate, PRESET.v_max), (2, -rate, PRESET.v_min)):
            rec.step(
                1.3 * 3600 / rate,
                current * one_c,
                dt=1e-3,
                grow=10.0,
                max_dt=30.0,
                step_index=index,
                v_limit=limit,
            )
            steps.append(
                {"step_count": rec.step_count, "step_index": index, "kind": "ConstantCurrent",
                 "cycle": rec.cycle, "cycle_type": kind}
            )  # fmt: skip
            rec.step(600.0, 0.0, dt=1e-3, grow=10.0, max_dt=60.0, step_index=3)
        rec.cycle += 1
    return rec.samples(), steps


def test_cycle_summary_retention_is_referenced_to_the_ageing_block() -> None:
    samples, steps = _cycling(3)
    report = analyze_run(
        samples,
        [],
        steps,
        cell=CELL,
        protocol_meta={"name": "cycling", "one_c_A": PRESET.one_c_A},
        analyses=["cycle_summary"],
    )
    outcome = report.get("cycle_summary")
    assert outcome is not None and not report.inferred
    rows = outcome.result
    assert [r.cycle for r in rows] == [1, 2, 3, 4]
    assert outcome.summary["reference_cycle"] == 2  # the first cycle of the ageing block
    assert rows[1].retention == pytest.approx(1.0)
    assert outcome.summary["retention"] == pytest.approx(
        rows[-1].discharge_mAh / rows[1].discharge_mAh
    )
    # the formation cycle at 0.1C gives ~200 mAh/g and the side reaction lowers its CE
    assert outcome.summary["first_discharge"] == pytest.approx(200.0, rel=0.03)
    assert 0.88 < outcome.summary["first_cycle_CE"] < 0.95
    assert "ageing block" in outcome.notes[0]
    # without cycle types the last block of equal C-rate gives the same reference
    bare = [{k: v for k, v in s.items() if k != "cycle_type"} for s in steps]
    again = analyze_run(
        samples, [], bare, cell=CELL, protocol_meta={}, analyses=["cycle_summary"]
    ).get("cycle_summary")
    assert again.summary["reference_cycle"] == 2
    assert "last block at 0.5C" in again.notes[0]


def test_rate_table_from_a_ladder() -> None:
    cell = Cell(PRESET, seed=2)
    samples = rate_ladder(cell, rates=[0.1, 1.0, 2.0], cycles_per_rate=1, charge_rate=0.2)
    report = analyze_run(
        samples, [], [], cell=CELL, protocol_meta={}, analyses=["cycle_summary", "rate_table"]
    )
    rates = report.get("rate_capability").summary["rates"]
    assert list(rates) == ["0.1C", "1C", "2C"]
    assert rates["0.1C"] > rates["1C"] > rates["2C"] > 0


def test_gitt_uses_the_cells_diffusion_length_and_states_it() -> None:
    cell = Cell(PRESET, soc=0.5, seed=5)
    l2d = cell.truth()["L2_over_D_s"]
    samples = gitt(cell, current_A=0.5 * PRESET.one_c_A, tau_s=0.02 * l2d, rest_s=3 * l2d, pulses=3)
    report = analyze_run(samples, [], [], cell=CELL, protocol_meta={}, analyses=["gitt"])
    outcome = report.get("gitt")
    assert outcome.summary["valid_pulses"] == 3
    assert outcome.summary["D_cm2_s_median"] == pytest.approx(PRESET.D_cm2_s, rel=0.25)
    assert outcome.summary["diffusion_length_um"] == pytest.approx(37.9)
    assert any("as recorded with the cell" in note for note in outcome.notes)
    assert "L = V/S = 37.9 µm" in outcome.summary["convention"]


def test_diffusion_length_falls_back_to_loading_over_density() -> None:
    length, source = diffusion_length_cm({"loading_mg_cm2": 18.0})
    assert length == pytest.approx(18e-3 / 4.75)
    assert "4.75 g/cm³" in source
    length, _ = diffusion_length_cm({"loading_mg_cm2": 18.0, "extra": {"density_g_cm3": 4.5}})
    assert length == pytest.approx(18e-3 / 4.5)
    assert diffusion_length_cm({"name": "no geometry"}) == (None, "")
    samples = gitt(Cell(PRESET, soc=0.5), current_A=1e-3, tau_s=20, rest_s=600, pulses=2)
    report = analyze_run(samples, [], [], cell={"name": "x"}, protocol_meta={}, analyses=["gitt"])
    assert report.get("gitt") is None
    assert "diffusion_length_um" in report.outcomes["gitt"].skipped


def test_eis_and_arrhenius_from_spectra_at_three_temperatures() -> None:
    cell = Cell(PRESET, soc=0.5, seed=9)
    f = np.logspace(6, -1, 57)
    spectra = []
    for t in (25.0, 45.0, 65.0, 25.0):
        cell.set_temperature(t)
        z = cell.measured_impedance(f)
        spectra.append(
            {"frequency_Hz": f, "z_real_ohm": z.real, "z_imag_ohm": z.imag, "temperature_degC": t}
        )
    assert infer_analyses({}, spectra) == ["eis_fit", "arrhenius_rct"]
    report = analyze_run({}, spectra, [], cell=CELL, protocol_meta={}, analyses=None)
    assert report.inferred
    fit = report.get("arrhenius_rct")
    assert fit.summary["Ea_kJ_mol"] == pytest.approx(PRESET.Ea_ct_kJ_mol, rel=0.05)
    assert fit.summary["temperatures_degC"] == [25.0, 45.0, 65.0]
    [repeat] = fit.summary["reversibility"]
    assert abs(repeat["change"]) < 0.03


def test_conductivity_needs_a_thickness_and_uses_the_series_resistance() -> None:
    cell = Cell(load_preset("ye2025-ncm-pvdf"), soc=0.5, seed=1)
    f = np.logspace(6, -1, 57)
    z = cell.measured_impedance(f)
    spectrum = {"frequency_Hz": f, "z_real_ohm": z.real, "z_imag_ohm": z.imag}
    spectrum["temperature_degC"] = 30.0
    ye_cell = {"name": "ye", "area_cm2": 1.131}
    skipped = analyze_run(
        {}, [spectrum], [], cell=ye_cell, protocol_meta={}, analyses=["conductivity"]
    )
    assert "thickness" in skipped.outcomes["conductivity"].skipped
    meta = {"metadata": {"thickness_um": 52.5}}
    report = analyze_run(
        {}, [spectrum], [], cell=ye_cell, protocol_meta=meta, analyses=["conductivity"]
    )
    [row] = report.get("conductivity").result
    assert row["sigma_mS_cm"] == pytest.approx(52.5e-4 / (7.6 * 1.131) * 1e3, rel=0.03)


def test_unknown_analysis_is_one_sentence() -> None:
    with pytest.raises(AnalysisError, match="'nonsense' is not a known analysis"):
        analyze_run({}, [], [], cell={}, protocol_meta={}, analyses=["nonsense"])


def test_missing_data_is_skipped_with_a_reason_not_raised() -> None:
    report = analyze_run(
        {}, [], [], cell={}, protocol_meta={}, analyses=["eis_fit", "cycle_summary", "gitt"]
    )
    assert all(not o.ok for o in report.outcomes.values())
    assert "no impedance spectra" in report.outcomes["eis_fit"].skipped
    assert report.as_dict()["analyses"]["cycle_summary"]["skipped"]
