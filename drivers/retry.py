"""The one backoff policy for every retry and reconnect in cellbench, built on tenacity.

Waits grow exponentially: `first_delay_s`, then twice that, and so on, never longer than
`max_delay_s`. `jitter` (0 to 1) shortens each wait by up to that fraction at random, so
that many benches dialling one broker after an outage do not all arrive at once. A retry
gives up after `attempts` tries, before a wait that would end past `deadline_s`, or as soon
as `until()` is true (a stop was asked for), whichever comes first; it never waits after
its last try. Only the exceptions in `retry_on` are retried: any other passes straight
through, and so does a cancellation. Each retry is logged (what is retried, which try
failed and why, how long until the next). When it gives up, the last error is raised as it
is, so that the caller can say in one sentence what could not be done and how often it
tried.

    await backoff("reconnecting the chamber", retry_on=InstrumentConnectionError,
                  attempts=5, first_delay_s=0.2)(transport.open)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    AttemptManager,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    stop_never,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from drivers.errors import InstrumentConnectionError

log = logging.getLogger("cellbench.retry")

Retryable = type[BaseException] | tuple[type[BaseException], ...]
_MAX_DOUBLINGS = 60  # 2**60 times any first delay is past every cap; avoids float overflow


class Backoff(wait_base):
    """Exponential waits with a cap and optional jitter (see the module docs)."""

    def __init__(self, first_s: float, max_s: float, jitter: float = 0.0) -> None:
        if first_s < 0 or max_s < 0 or not 0.0 <= jitter <= 1.0:
            raise ValueError("backoff needs delays >= 0 and a jitter between 0 and 1")
        self.first_s, self.max_s, self.jitter = first_s, max_s, jitter

    def delay(self, failures: int) -> float:
        """The wait after `failures` failed tries in a row, before jitter."""
        doublings = min(max(failures - 1, 0), _MAX_DOUBLINGS)
        return min(self.max_s, self.first_s * 2.0**doublings)

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.delay(retry_state.attempt_number) * (1.0 - self.jitter * random.random())


class _Until(stop_base):
    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.condition()


def backoff(
    what: str,
    *,
    retry_on: Retryable,
    attempts: int | None = None,
    deadline_s: float | None = None,
    first_delay_s: float = 0.2,
    max_delay_s: float = 5.0,
    jitter: float = 0.0,
    until: Callable[[], bool] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
    level: int = logging.WARNING,
    logger: logging.Logger = log,
) -> AsyncRetrying:
    """An `AsyncRetrying` with the project's policy; `what` names the action in the log.

    Call it on a coroutine function (`await backoff(...)(fn, *args)`) or iterate it
    (`async for attempt in backoff(...): with attempt: ...`). `sleep` replaces the wait
    between tries (one a stop request can cut short); `on_retry(error, wait_s)` hears of
    each failed try before its wait.
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"{what}: attempts must be 1 or more, not {attempts}")
    stop: stop_base = stop_never
    if attempts is not None:
        stop = stop | stop_after_attempt(attempts)
    if deadline_s is not None:
        stop = stop | stop_before_delay(deadline_s)
    if until is not None:
        stop = stop | _Until(until)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait_s = state.upcoming_sleep
        of = f" of {attempts}" if attempts is not None else ""
        logger.log(
            level,
            "%s: try %d%s failed (%s); trying again in %.3g s",
            what,
            state.attempt_number,
            of,
            error,
            wait_s,
        )
        if on_retry is not None and error is not None:
            on_retry(error, wait_s)

    return AsyncRetrying(
        sleep=asyncio.sleep if sleep is None else sleep,
        stop=stop,
        wait=Backoff(first_delay_s, max_delay_s, jitter),
        retry=retry_if_exception_type(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )


def start_over(attempt: AttemptManager) -> None:
    """Count the next failure as the first: a link that came up and broke later waits the
    shortest time before it is dialled again, not the longest it reached while down."""
    attempt.retry_state.attempt_number = 1


async def reopen(
    open_link: Callable[[], Awaitable[None]], who: str, *, attempts: int, first_delay_s: float
) -> None:
    """Open a lost link again on the backoff; one sentence naming `who` if it stays down."""
    try:
        await backoff(
            f"reconnecting {who}",
            retry_on=InstrumentConnectionError,
            attempts=attempts,
            first_delay_s=first_delay_s,
        )(open_link)
    except InstrumentConnectionError as exc:
        raise InstrumentConnectionError(
            f"{who} could not be reconnected after {attempts} attempts"
        ) from exc
