"""ye2025's cathode numbers through the whole stack: the H1–M peaks of a 0.1 mV/s CV on NCM@PVDF
and bare NCM (a potentiostatic sweep from the measured OCV, run by the EmStat4 simulator), and
the bare NCM cell's 0.5C cycling and 2C capacity, each against the paper within the tolerance its
Expectation states. The physics must also hold between the cells: the bare cathode's peaks sit
further apart, its capacities far below NCM@PVDF's, and GITT finds NCM@PVDF's D "much higher"
(the paper gives no value: the measured ratio must follow the presets' own)."""

from __future__ import annotations

import itertools

import pytest
from papers_support import reported, reproduce

from simulators.cell import load_preset

CATHODES = ["cv-pvdf", "cv-bare", "cycling-bare", "rate-bare", "rate", "gitt-pvdf", "gitt-bare"]

# the numbers the paper reports for these procedures
REPORTED = {
    "H1–M oxidation peak (CV 0.1 mV/s), NCM@PVDF": 3.774,
    "H1–M redox peak separation (CV 0.1 mV/s), NCM@PVDF": 0.107,
    "H1–M oxidation peak (CV 0.1 mV/s), bare NCM": 3.843,
    "H1–M redox peak separation (CV 0.1 mV/s), bare NCM": 0.215,
    "first 0.5C discharge capacity, bare NCM": 100.0,
    "0.5C discharge capacity after 30 cycles, bare NCM": 0.0,
    "2C discharge capacity, bare NCM": 0.0,
    "2C discharge capacity, NCM@PVDF": 100.0,
}


@pytest.mark.slow
async def test_ye2025_cathode_numbers(tmp_path) -> None:
    result, rows = await reproduce(tmp_path, "ye2025", only=CATHODES)
    assert reported(rows) == REPORTED
    runs = {run.procedure.key: run for run in result.runs}
    cv = {tag: runs[f"cv-{tag}"].analysed.report.get("cv_peaks") for tag in ("pvdf", "bare")}
    for outcome in cv.values():
        (cycle,) = outcome.result  # one cycle from OCV: an anodic sweep and its cathodic return
        assert cycle.i_pa_A > 0 > cycle.i_pc_A
        # the H1–M pair brackets the 3.72 V dQ/dV peak of the presets' shared OCV table
        assert cycle.E_pc_V < 3.72 < cycle.E_pa_V
    # the bare cathode polarises more: both peaks move outwards, the separation about doubles
    assert cv["bare"].summary["E_pa_V"] > cv["pvdf"].summary["E_pa_V"]
    assert cv["bare"].summary["E_pc_V"] < cv["pvdf"].summary["E_pc_V"]
    assert cv["bare"].summary["delta_Ep_V"] > 1.5 * cv["pvdf"].summary["delta_Ep_V"]
    assert any(p.name.endswith("-cv.png") for p in runs["cv-bare"].analysed.plots.values())

    # bare NCM: below NCM@PVDF at every rate, further below the faster the rate, and nearly
    # nothing at 2C
    bare = runs["rate-bare"].analysed.report.get("rate_capability").summary["rates"]
    pvdf = runs["rate"].analysed.report.get("rate_capability").summary["rates"]
    assert set(bare) == set(pvdf)
    rates = sorted(bare, key=lambda rate: float(rate.rstrip("C")))
    ratios = [bare[rate] / pvdf[rate] for rate in rates]
    assert all(0.0 <= ratio < 1.0 for ratio in ratios)
    assert all(faster < slower for slower, faster in itertools.pairwise(ratios))
    assert bare["2C"] < 0.1 * pvdf["2C"]

    # 0.5C: the cycle table runs from the 0.1C formation (cycle 1) through 30 cycles at 0.5C,
    # and the capacity falls cycle after cycle (the growing interphase)
    cycling = runs["cycling-bare"].analysed.report.get("cycle_summary")
    assert (cycling.summary["reference_cycle"], cycling.summary["last_cycle"]) == (2, 31)
    discharge = [row.discharge_mAh_g for row in cycling.result if row.cycle >= 2]
    assert len(discharge) == 30
    assert all(later < earlier for earlier, later in itertools.pairwise(discharge[1:]))
    assert discharge[-1] < 0.5 * discharge[0] < 0.5 * cycling.summary["first_discharge"]

    # GITT at mid SOC, the same pulses and rests on both cells: NCM@PVDF's D is much higher,
    # by the ratio of the presets' true D (Weppner-Huggins with the same L on both)
    gitt = {
        tag: runs[f"gitt-{tag}"].analysed.report.get("gitt").summary for tag in ("pvdf", "bare")
    }
    assert all(summary["valid_pulses"] >= 3 for summary in gitt.values())
    measured = gitt["pvdf"]["D_cm2_s_median"] / gitt["bare"]["D_cm2_s_median"]
    true = load_preset("ye2025-ncm-pvdf").D_cm2_s / load_preset("ye2025-ncm-bare").D_cm2_s
    assert measured > 2.0 and measured == pytest.approx(true, rel=0.3)
