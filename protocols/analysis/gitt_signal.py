"""The signal pieces of a GITT record: pulses found in the current, the relaxed end of each
rest, and the E–√t regression of a pulse (used by `gitt`)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

DRIFT_FRACTION = 0.25  # the end drift of a rest is fitted over its last quarter
SETTLE_WINDOW = (0.5, 0.6)  # the rest's level here is compared with its end level


@dataclass(frozen=True)
class Tail:
    level: float  # mean of the tail
    noise: float  # residual standard deviation around the tail's linear trend
    count: int
    drift: float  # dE/dt over the last quarter of the rest
    settling: float  # level minus the mean at 50-60 % of the rest: how far it still moved
    settling_se: float  # standard error of that difference from the noise
    duration: float  # the whole rest's duration


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True values."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def split_by_sign(current: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    """Split a run of current-on samples where the direction of the current reverses."""
    signs = np.sign(current[first : last + 1])
    cuts = np.flatnonzero(np.diff(signs) != 0) + 1
    bounds = [0, *cuts.tolist(), last - first + 1]
    return [(first + a, first + b - 1) for a, b in itertools.pairwise(bounds)]


def last_part(time: np.ndarray, fraction: float, minimum: int = 5) -> np.ndarray:
    """Mask of the samples in the last `fraction` of a record (at least `minimum` of them)."""
    chosen = time >= time[-1] - fraction * (time[-1] - time[0])
    if chosen.sum() < minimum:
        chosen = np.zeros(time.size, dtype=bool)
        chosen[-min(minimum, time.size) :] = True
    return chosen


def rest_tail(time: np.ndarray, volts: np.ndarray, tail_fraction: float) -> Tail | None:
    """The relaxed end of a rest: its level, noise, end drift and how much it still settled."""
    if time.size < 2:
        return None
    duration = float(time[-1] - time[0])
    level_mask = last_part(time, tail_fraction)
    level = float(volts[level_mask].mean())
    count = int(level_mask.sum())
    drift_mask = last_part(time, max(tail_fraction, DRIFT_FRACTION))
    t, v = time[drift_mask], volts[drift_mask]
    if t.size < 4 or np.ptp(t) <= 0:
        return Tail(level, math.nan, count, math.nan, math.nan, math.nan, duration)
    slope, intercept = np.polyfit(t - t.mean(), v, 1)
    residual = v - (slope * (t - t.mean()) + intercept)
    noise = float(np.sqrt(np.sum(residual**2) / (t.size - 2)))
    elapsed = time - time[0]
    middle = (elapsed >= SETTLE_WINDOW[0] * duration) & (elapsed <= SETTLE_WINDOW[1] * duration)
    if middle.sum() >= 3:
        settling = level - float(volts[middle].mean())
        settling_se = noise * math.sqrt(1.0 / count + 1.0 / float(middle.sum()))
    else:
        settling = settling_se = math.nan
    return Tail(level, noise, count, float(slope), settling, settling_se, duration)


def sqrt_fit(
    t_rel: np.ndarray, volts: np.ndarray, tau: float, window: tuple[float, float]
) -> tuple[float, float, float, int]:
    """(slope dE/d√t, intercept E2, R², points) of E against √t inside the window (× τ)."""
    chosen = (t_rel >= window[0] * tau) & (t_rel <= window[1] * tau * (1 + 1e-9))
    n = int(chosen.sum())
    if n < 3:
        return math.nan, math.nan, math.nan, n
    x = np.sqrt(t_rel[chosen])
    y = volts[chosen]
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    return float(slope), float(intercept), r2, n
