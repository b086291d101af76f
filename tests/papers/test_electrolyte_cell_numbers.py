"""The electrolyte-only cells through the whole stack (EmStat4 driver ↔ simulator over TCP,
storage, analysis of the stored run):

- ye2025: t+ = 0.39 by Bruce–Vincent on Li | GRSE | Li, the decomposition onset at 4.62 V from
  an LSV on SS | GRSE | Li, and Li‖Li cycling for 1000 h without a short, its overpotential
  settled after ~100 h;
- kim2025: the small-particle Li6PS5Cl pellet's 2.224 mS/cm at 30 °C and 15 MPa.

Besides the paper's numbers, each analysis must agree with the simulated cell's own truth, and
a different transference number set on the cell must come back out of the same procedure."""

from __future__ import annotations

import dataclasses

import pytest
from papers_support import reproduce

from scheduler.sim.papers import procedures, run_procedure
from simulators.cell import load_preset, make_cell
from storage import open_store

YE = ["transference-number", "window", "li-li"]


@pytest.mark.slow
async def test_ye2025_electrolyte_cells(tmp_path) -> None:
    result, rows = await reproduce(tmp_path, "ye2025", only=YE)
    assert [run.procedure.key for run in result.runs] == YE
    assert rows["Li+ transference number t+ (Bruce–Vincent)"]["reported"] == 0.39
    runs = {run.procedure.key: run.analysed.report for run in result.runs}

    bv = runs["transference-number"].get("bruce_vincent")
    li_li = load_preset("ye2025-grse-li-li")
    fresh = make_cell(li_li).truth()
    # R0 is the fresh cell's two interfaces; the hold grew the interphase before R_ss
    assert bv.summary["R0_ohm"] == pytest.approx(fresh["interface_ohm"], rel=0.02)
    assert bv.summary["Rss_ohm"] > bv.summary["R0_ohm"]
    # I0 from the hold's first samples agrees with ΔV/(R_b + R0) from the first spectrum
    assert bv.summary["I0_A"] == pytest.approx(bv.summary["I0_from_eis_A"], rel=0.01)
    assert bv.summary["steady"] is True

    window = runs["window"].get("lsv_window")
    assert window.summary["onset_V"] == pytest.approx(
        load_preset("ye2025-grse-ss-li").oxidation_onset_V, abs=0.005
    )

    cycling = runs["li-li"].get("li_li_overpotential").summary
    model = make_cell(li_li)
    assert cycling["short_at_s"] is None and cycling["half_cycles"] == 1000
    # the settling time the model itself predicts for 0.1 mA/cm², within one half cycle
    assert cycling["settled_after_h"] == pytest.approx(model.settling_time_h(0.1), abs=1.5)
    # the steady plateau: 0.1 mA/cm² through R_b, the settled interfaces and R_d
    area = li_li.area_cm2
    steady = (
        0.1e-3
        * area
        * (
            li_li.bulk_resistance_ohm
            + 2 * li_li.asr_final_ohm_cm2 / area
            + li_li.diffusion_resistance_ohm
        )
    )
    assert cycling["steady_mean_abs_V"] == pytest.approx(steady, rel=0.02)
    # first up, then down: the peak comes early and well above the settled level
    assert cycling["peak_after_h"] < cycling["settled_after_h"] / 2
    assert cycling["peak_mean_abs_V"] > 1.5 * cycling["steady_mean_abs_V"]


@pytest.mark.slow
async def test_kim2025_pellet_conductivity(tmp_path) -> None:
    result, rows = await reproduce(tmp_path, "kim2025", only=["se-conductivity"])
    assert rows["small-particle Li6PS5Cl conductivity at 30 °C"]["reported"] == 2.224
    report = result.runs[0].analysed.report
    sigma = report.get("conductivity")
    assert "L = 776 µm" in sigma.notes[0]
    values = [row["sigma_mS_cm"] for row in sigma.summary["spectra"]]
    assert len(values) == 3 and max(values) - min(values) < 0.01 * values[0]
    assert report.get("eis_fit").summary["circuit"] == "R0-CPE1"


@pytest.mark.slow
@pytest.mark.parametrize("t_plus", [0.6, 0.25])
async def test_bruce_vincent_recovers_another_transference_number(tmp_path, t_plus) -> None:
    [base] = [p for p in procedures("ye2025") if p.key == "transference-number"]
    procedure = dataclasses.replace(base, cell_overrides={"t_plus": t_plus})
    store = open_store(f"sqlite:///{tmp_path}/bv.db")
    run = await run_procedure(store, procedure, output_dir=None, paper="ye2025")
    assert run.status == "completed", run.message
    measured = run.analysed.report.get("bruce_vincent").summary["t_plus"]
    assert measured == pytest.approx(t_plus, rel=0.05)
