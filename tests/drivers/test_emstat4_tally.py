"""The EmStat4 step tally: sample numbers in, gaps and duplicates out, and the step's end."""

from __future__ import annotations

from drivers.potentiostat import Sample, StepCommand, StepLimit
from drivers.potentiostats.emstat4.tally import Tally, ranges, step_end

CUTOFF = StepLimit("voltage", "<=", 3.0, name="V <= 3.0 V")


def test_a_jump_in_the_index_is_a_gap_and_a_repeat_is_dropped() -> None:
    tally = Tally()
    assert tally.admit(1, "ES4") == (True, None)
    fresh, gap = tally.admit(5, "ES4")
    assert fresh and gap is not None and gap.missing == (2, 3, 4)
    assert tally.admit(5, "ES4") == (False, None)
    end_gap = tally.close(7, "ES4")
    assert end_gap is not None and end_gap.missing == (6, 7)
    assert tally.note() == (
        "5 sample(s) lost with the connection (indices 2-4, 6-7); 1 duplicate sample(s) dropped"
    )


def test_an_adopted_step_takes_its_first_sample_as_the_baseline() -> None:
    tally = Tally(baseline=True)
    assert tally.admit(40, "ES4") == (True, None)
    assert tally.close(40, "ES4") is None


def test_ranges_joins_runs() -> None:
    assert ranges((3, 4, 5, 9)) == "3-5, 9"


def test_a_lost_end_is_inferred_from_the_last_sample() -> None:
    command = StepCommand("cc", duration_s=3600, current_A=-1e-3, limits=(CUTOFF,))
    last = Sample(t_s=100.0, voltage_V=2.99, current_A=-1e-3)
    end = step_end(command, None, Tally(received=3), last, tail_lost=True, aborted=False)
    assert end.reason == "limit" and end.limit == CUTOFF and "inferred" in end.message
    unknown = Sample(t_s=100.0, voltage_V=3.5, current_A=-1e-3)
    end = step_end(command, None, Tally(), unknown, tail_lost=True, aborted=False)
    assert end.reason == "error" and "unknown" in end.message
