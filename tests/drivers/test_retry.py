"""The one backoff policy (drivers.retry): waits, caps, jitter, limits, what is retried."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from drivers.errors import InstrumentConnectionError, InstrumentReplyError
from drivers.retry import Backoff, backoff, start_over


class Flaky:
    """Fails `failures` times with `error`, then answers "ok"; records the waits between."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or InstrumentConnectionError("link down")
        self.calls = 0
        self.waits: list[float] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def retrying(self, name: str = "test", **options: Any) -> Any:
        """The backoff policy on connection errors, waiting through `sleep` unless told."""
        options = {"retry_on": InstrumentConnectionError, "sleep": self.sleep, **options}
        return backoff(name, **options)


async def test_waits_double_from_the_first_delay_up_to_the_cap() -> None:
    flaky = Flaky(failures=6)
    retrying = flaky.retrying(attempts=8, first_delay_s=0.2, max_delay_s=1.0)
    assert await retrying(flaky) == "ok"
    assert flaky.calls == 7
    assert flaky.waits == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


async def test_gives_up_after_the_last_attempt_without_waiting_after_it() -> None:
    flaky = Flaky(failures=10)
    retrying = flaky.retrying(attempts=3)
    with pytest.raises(InstrumentConnectionError, match="link down"):
        await retrying(flaky)
    assert flaky.calls == 3
    assert flaky.waits == pytest.approx([0.2, 0.4])


async def test_other_errors_pass_straight_through() -> None:
    flaky = Flaky(failures=1, error=InstrumentReplyError("garbled"))
    retrying = flaky.retrying(attempts=5)
    with pytest.raises(InstrumentReplyError, match="garbled"):
        await retrying(flaky)
    assert flaky.calls == 1 and flaky.waits == []


async def test_jitter_only_shortens_a_wait() -> None:
    policy = Backoff(first_s=1.0, max_s=8.0, jitter=0.2)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    flaky = Flaky(failures=40)
    retrying = flaky.retrying(attempts=41, first_delay_s=1.0, max_delay_s=1.0, jitter=0.2)
    assert await retrying(flaky) == "ok"
    assert all(0.8 <= wait <= 1.0 for wait in flaky.waits)
    assert len(set(flaky.waits)) > 1


def test_a_very_long_outage_does_not_overflow_the_delay() -> None:
    assert Backoff(first_s=0.5, max_s=30.0).delay(100_000) == 30.0


async def test_a_deadline_stops_before_a_wait_that_would_pass_it() -> None:
    flaky = Flaky(failures=10)
    retrying = flaky.retrying(deadline_s=0.5, first_delay_s=0.2, sleep=None)  # real waits
    with pytest.raises(InstrumentConnectionError):
        await retrying(flaky)
    assert flaky.calls == 2  # waited 0.2 s once; the next 0.4 s wait would end past 0.5 s


async def test_until_ends_the_retries_and_on_retry_hears_each_failure() -> None:
    flaky = Flaky(failures=10)
    heard: list[tuple[str, float]] = []
    retrying = flaky.retrying(
        until=lambda: flaky.calls >= 4,
        on_retry=lambda error, wait_s: heard.append((str(error), wait_s)),
    )
    with pytest.raises(InstrumentConnectionError):
        await retrying(flaky)
    assert flaky.calls == 4
    assert heard == [("link down", pytest.approx(w)) for w in (0.2, 0.4, 0.8)]


async def test_start_over_makes_the_next_wait_the_shortest_again() -> None:
    flaky = Flaky(failures=0)
    retrying = flaky.retrying(attempts=10)
    async for attempt in retrying:
        with attempt:
            flaky.calls += 1
            if flaky.calls == 4:
                start_over(attempt)  # this try got through before it failed
            if flaky.calls < 6:
                raise InstrumentConnectionError("link down")
    assert flaky.waits == pytest.approx([0.2, 0.4, 0.8, 0.2, 0.4])


async def test_each_retry_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(failures=1)
    retrying = flaky.retrying("reconnecting the chamber", attempts=3)
    with caplog.at_level(logging.WARNING, logger="cellbench.retry"):
        await retrying(flaky)
    assert "reconnecting the chamber: try 1 of 3 failed (link down); trying again in 0.2 s" in (
        caplog.text
    )


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts must be 1 or more"):
        backoff("test", retry_on=InstrumentConnectionError, attempts=0)
