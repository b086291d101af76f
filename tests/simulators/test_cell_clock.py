"""SimClock: simulated time at a multiple of wall time, or instant discrete-event time."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from simulators.clock import SimClock
from simulators.errors import SimulatorError


async def test_instant_clock_wakes_sleepers_in_simulated_order() -> None:
    clock = SimClock(math.inf)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, until: float) -> None:
        await clock.sleep_until(until)
        woke.append((name, clock.now()))

    async def ticker(period: float, count: int) -> None:
        for _ in range(count):
            await clock.sleep(period)
            woke.append(("tick", clock.now()))

    start = time.perf_counter()
    await asyncio.gather(sleeper("late", 100.0), sleeper("early", 50.0), ticker(30.0, 4))
    assert time.perf_counter() - start < 1.0  # 120 simulated seconds, no waiting
    assert woke == [
        ("tick", 30.0),
        ("early", 50.0),
        ("tick", 60.0),
        ("tick", 90.0),
        ("late", 100.0),
        ("tick", 120.0),
    ]
    assert clock.now() == 120.0


async def test_instant_clock_covers_days_quickly() -> None:
    clock = SimClock(math.inf)
    start = time.perf_counter()
    for _ in range(2000):
        await clock.sleep(60.0)
    assert clock.now() == pytest.approx(2000 * 60.0)
    assert time.perf_counter() - start < 2.0


async def test_scaled_clock_sleeps_sim_dt_over_scale() -> None:
    clock = SimClock(200.0)
    start_wall, start_sim = time.perf_counter(), clock.now()
    await clock.sleep(20.0)  # 0.1 s of wall time
    wall = time.perf_counter() - start_wall
    assert 0.09 <= wall < 0.5
    assert clock.now() - start_sim == pytest.approx(wall * 200.0, rel=0.2)
    assert clock.wall_seconds(20.0) == pytest.approx(0.1)


async def test_sleep_until_the_past_returns_at_once() -> None:
    clock = SimClock(1.0)
    start = time.perf_counter()
    await clock.sleep_until(-5.0)
    assert time.perf_counter() - start < 0.05


async def test_cancelled_instant_sleeper_does_not_hold_the_clock() -> None:
    clock = SimClock(math.inf)
    task = asyncio.create_task(clock.sleep_until(1000.0))
    await asyncio.sleep(0)
    task.cancel()
    await clock.sleep(10.0)
    assert clock.now() == 10.0


@pytest.mark.parametrize("scale", [0, -1.0, math.nan])
def test_bad_time_scale_is_refused(scale: float) -> None:
    with pytest.raises(SimulatorError, match="time_scale"):
        SimClock(scale)


async def test_negative_sleep_is_refused() -> None:
    with pytest.raises(SimulatorError, match="negative"):
        await SimClock(math.inf).sleep(-1.0)
