"""The papers' reported numbers are data (protocols/library/<paper>/reported.toml): every
procedure finds its numbers there, every entry there belongs to a procedure, and a measure the
runner does not know is refused with the file's paper and procedure."""

from __future__ import annotations

import pytest

from scheduler.errors import SchedulerError
from scheduler.sim.papers import PAPERS, not_reproduced, procedures
from scheduler.sim.papers.core import MEASURES, _measure, reported


@pytest.mark.parametrize("paper", PAPERS)
def test_every_procedure_has_its_reported_numbers_and_nothing_else_is_listed(paper: str) -> None:
    keys = [p.key for p in procedures(paper)]
    assert set(reported(paper)["expectations"]) == set(keys)
    for procedure in procedures(paper):
        for expectation in procedure.expectations:
            assert expectation.kind in ("rel", "abs", "max") and expectation.unit
    assert all(set(item) == {"quantity", "why"} for item in not_reproduced(paper))


def test_reported_numbers_are_read_as_written() -> None:
    rate = procedures("gao2025")[0]
    first = rate.expectations[0]
    assert (first.quantity, first.reported, first.tolerance) == (
        "1C discharge capacity, DFNCM/LLZO",
        169.6,
        0.03,
    )
    assert "reference_areal_discharge" in MEASURES


def test_an_unknown_measure_is_refused() -> None:
    with pytest.raises(SchedulerError, match=r"gao2025 pouch: measure .* is not one of rate_at"):
        _measure({"median_of": "x"}, "gao2025 pouch")
