"""How long an EmStat4 step may be silent before the driver calls the instrument stalled:
three sample periods of the bench's clock, never under a few seconds (or the link's own
timeout, when that is shorter)."""

from __future__ import annotations

from drivers.potentiostat import StepCommand
from drivers.potentiostats.emstat4 import EmStat4
from drivers.potentiostats.emstat4.driver import STALL_FLOOR_S, STALL_PERIODS
from scheduler.instruments import ScaledClock


def rest(interval_s: float) -> StepCommand:
    return StepCommand("rest", duration_s=3600, sample_interval_s=interval_s)


def test_the_stall_bound_is_three_sample_periods_at_least_a_few_seconds() -> None:
    driver = EmStat4("tcp://127.0.0.1:9", timeout_s=5.0)
    assert driver._read_timeout(rest(1.0)) == STALL_FLOOR_S == 3.0  # a 1 s stream: 3 s
    assert driver._read_timeout(rest(10.0)) == STALL_PERIODS * 10.0
    short = EmStat4("tcp://127.0.0.1:9", timeout_s=0.5)
    assert short._read_timeout(rest(0.01)) == 0.5


def test_the_stall_bound_follows_the_bench_clock() -> None:
    # At time scale 100 a 60 s sample period is 0.6 wall seconds.
    scaled = EmStat4("tcp://127.0.0.1:9", timeout_s=5.0, clock=ScaledClock(100.0))
    assert scaled._read_timeout(rest(60.0)) == STALL_FLOOR_S
    assert scaled._read_timeout(rest(600.0)) == STALL_PERIODS * 6.0
