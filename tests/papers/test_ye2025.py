"""ye2025 through the whole stack: the garnet-rich electrolyte's conductivity at 30 and 80 °C and
its activation energy (from the series resistance of the NCM@PVDF | GRSE | Li cell, σ = L/(R·A)
with the paper's 52.5 µm), and ~100 mAh/g at 2C for NCM@PVDF.

The electrolyte cells' numbers (t+, the 4.62 V window, Li‖Li cycling) are checked in
test_electrolyte_cell_numbers.py, and the cathodes' numbers (CV peaks, bare NCM) in
test_ye2025_cathodes.py. Not reproduced (see protocols/library/ye2025/reported.toml): the
GITT comparison."""

from __future__ import annotations

import pytest
from papers_support import reproduce

from scheduler.sim.papers import not_reproduced


@pytest.mark.slow
async def test_ye2025_reported_numbers(tmp_path) -> None:
    result, rows = await reproduce(tmp_path, "ye2025", only=["conductivity", "rate"])
    assert rows["GRSE conductivity at 30 °C"]["reported"] == 0.61
    assert rows["GRSE conductivity at 80 °C"]["reported"] == 1.59
    assert rows["Ea of GRSE conduction (ln σ vs 1/T)"]["reported"] == 0.18
    assert rows["2C discharge capacity, NCM@PVDF"]["reported"] == 100.0
    conductivity = next(r for r in result.runs if r.procedure.key == "conductivity")
    sigma = conductivity.analysed.report.get("conductivity")
    assert "L = 52.5 µm" in sigma.notes[0]
    values = [row["sigma_mS_cm"] for row in sigma.summary["spectra"]]
    assert values == sorted(values) and len(values) == 6  # 30 → 80 °C, rising
    fit = conductivity.analysed.report.get("arrhenius_conductivity")
    assert fit.summary["form"] == "sigma"
    assert any("GITT" in item["quantity"] for item in result.not_reproduced)
    assert result.not_reproduced == not_reproduced("ye2025")
