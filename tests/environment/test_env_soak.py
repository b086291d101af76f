"""SoakDetector: pure tests of stability, resets, NaN and timeouts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.errors import SchedulerError
from scheduler.soak import SoakDetector, SoakStatus, SoakTimeout


def test_stable_only_after_the_stated_time_in_band():
    d = SoakDetector(60.0, 0.5, stable_for_s=300.0, timeout_s=3600.0, instrument="chamber")
    assert d.update(0, 50.0) is SoakStatus.WAITING
    assert d.update(100, 59.7) is SoakStatus.WAITING  # enters the band at 100 s
    assert d.update(350, 60.4) is SoakStatus.WAITING
    assert d.update(400, 60.1) is SoakStatus.STABLE  # 300 s after entering
    assert d.stable_at == 400


def test_leaving_the_band_restarts_the_count():
    d = SoakDetector(60.0, 0.5, stable_for_s=300.0)
    d.update(0, 60.0)
    d.update(200, 60.6)  # out
    assert d.update(300, 60.0) is SoakStatus.WAITING
    assert d.update(599, 60.0) is SoakStatus.WAITING
    assert d.update(600, 60.0) is SoakStatus.STABLE


def test_nan_breaks_stability():
    d = SoakDetector(25.0, 0.2, stable_for_s=60.0)
    d.update(0, 25.0)
    d.update(30, math.nan)
    assert d.update(60, 25.0) is SoakStatus.WAITING
    assert d.update(120, 25.0) is SoakStatus.STABLE


def test_timeout_raises_a_clear_error():
    d = SoakDetector(
        15.0, 0.5, 600.0, timeout_s=1000.0, instrument="rig", quantity="stack pressure", unit="MPa"
    )
    d.update(0, 10.0)
    d.update(900, 14.8)
    with pytest.raises(SoakTimeout) as info:
        d.update(1000, 14.9)
    text = str(info.value)
    assert text.startswith("rig did not hold its stack pressure within ±0.5 MPa of 15 MPa")
    assert "1000 s timeout" in text and "last reading 14.9 MPa" in text
    assert "held for 100 s of the 600 s needed" in text
    assert d.status(1001, 14.9) is SoakStatus.TIMED_OUT


def test_bad_settings_and_time_going_backwards_are_refused():
    with pytest.raises(SchedulerError, match="tolerance"):
        SoakDetector(1.0, 0.0)
    with pytest.raises(SchedulerError, match="must be >= 0"):
        SoakDetector(1.0, 0.1, stable_for_s=-1)
    d = SoakDetector(1.0, 0.1)
    d.update(10, 1.0)
    with pytest.raises(SchedulerError, match="back in time"):
        d.update(5, 1.0)


@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=60),
    st.floats(0.1, 2.0),
    st.floats(0, 200),
)
def test_stable_means_every_reading_of_the_last_window_was_in_band(offsets, tol, stable_for):
    d = SoakDetector(0.0, tol, stable_for_s=stable_for)
    for i, value in enumerate(offsets):
        t = 10.0 * i
        if d.update(t, value) is SoakStatus.STABLE:
            window = [v for j, v in enumerate(offsets[: i + 1]) if t - 10.0 * j <= stable_for]
            assert all(abs(v) <= tol for v in window)
            break
