"""Soak and stability detection: is a reading within tolerance of its target, and has it stayed
there long enough?

Pure and clock-free: the caller feeds (time, value) readings in time order and asks. A reading
that is not a number (a sensor dropout) breaks stability like an out-of-band reading. The
timeout runs from the first reading (or from `started_at`); once it passes without stability,
`update` raises SoakTimeout naming the instrument, the target, the last value and the timeout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from scheduler.errors import SchedulerError


class SoakStatus(StrEnum):
    WAITING = "waiting"  # not yet stable
    STABLE = "stable"
    TIMED_OUT = "timed out"


class SoakTimeout(SchedulerError):
    """A setpoint was not reached and held within the step's timeout."""


@dataclass
class SoakDetector:
    """Within `tolerance` of `target` continuously for `stable_for_s`, before `timeout_s`."""

    target: float
    tolerance: float
    stable_for_s: float = 0.0
    timeout_s: float | None = None
    instrument: str = "instrument"
    quantity: str = "value"
    unit: str = ""
    started_at: float | None = None
    in_band_since: float | None = field(default=None, init=False)
    stable_at: float | None = field(default=None, init=False)
    last_t: float | None = field(default=None, init=False)
    last_value: float = field(default=math.nan, init=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target)):
            raise SchedulerError(f"soak target {self.target} for {self.instrument} is not a number")
        if not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise SchedulerError(
                f"soak tolerance {self.tolerance} for {self.instrument} must be positive"
            )
        if not (math.isfinite(self.stable_for_s) and self.stable_for_s >= 0):
            raise SchedulerError(
                f"'stable for' time {self.stable_for_s} s for {self.instrument} must be >= 0"
            )
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise SchedulerError(
                f"soak timeout {self.timeout_s} s for {self.instrument} must be > 0"
            )

    def within(self, value: float) -> bool:
        return math.isfinite(value) and abs(value - self.target) <= self.tolerance

    def update(self, t: float, value: float) -> SoakStatus:
        """Feed one reading; STABLE or WAITING, or raise SoakTimeout once the time is up."""
        status = self.status(t, value)
        if status is SoakStatus.TIMED_OUT:
            raise self.error()
        return status

    def status(self, t: float, value: float) -> SoakStatus:
        """Like `update`, but answers TIMED_OUT instead of raising."""
        if self.last_t is not None and t < self.last_t:
            raise SchedulerError(
                f"readings from {self.instrument} went back in time ({t} s after {self.last_t} s)"
            )
        if self.started_at is None:
            self.started_at = t
        self.last_t, self.last_value = t, value
        if self.stable_at is not None:
            return SoakStatus.STABLE
        if self.within(value):
            if self.in_band_since is None:
                self.in_band_since = t
            if t - self.in_band_since >= self.stable_for_s:
                self.stable_at = t
                return SoakStatus.STABLE
        else:
            self.in_band_since = None
        if self.timeout_s is not None and t - self.started_at >= self.timeout_s:
            return SoakStatus.TIMED_OUT
        return SoakStatus.WAITING

    def error(self) -> SoakTimeout:
        unit = f" {self.unit}" if self.unit else ""
        last = (
            "no valid reading"
            if not math.isfinite(self.last_value)
            else (f"{self.last_value:.3g}{unit}")
        )
        held = (
            f" (held for {self.last_t - self.in_band_since:.0f} s of the "
            f"{self.stable_for_s:.0f} s needed)"
            if self.in_band_since is not None and self.last_t is not None
            else ""
        )
        return SoakTimeout(
            f"{self.instrument} did not hold its {self.quantity} within ±{self.tolerance:g}{unit} "
            f"of {self.target:g}{unit} within the {self.timeout_s:g} s timeout; last reading "
            f"{last}{held}"
        )
