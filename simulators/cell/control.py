"""The current that holds a cell at a given terminal voltage: what a potentiostatic
control loop (a CV hold, a sweep, a cycler's CV phase) finds at each moment. Shared by the
simulated instruments, which hold potentials on the same cells."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def current_for_voltage(cell: Any, target: float, guess: float, limit: float) -> float:
    """Current (within ±limit) that holds the terminal voltage at `target`: the cell's own
    inverse when it has one (a steep Tafel branch defeats a secant), else a root of V(I)."""
    inverse = getattr(cell, "current_at_voltage", None)
    if inverse is not None:
        return max(-limit, min(limit, inverse(target)))
    return bracketed_current(cell.voltage, target, guess, limit)


def bracketed_current(
    voltage: Callable[[float], float], target: float, guess: float, limit: float
) -> float:
    """The current I with voltage(I) = target. V(I) rises monotonically with I but may have
    kinks (a side reaction that starts, a Tafel branch), so the root is bracketed first by
    stepping out from `guess`, then closed by regula falsi with the Illinois correction."""
    tolerance = 1e-7  # V

    def residual(current: float) -> float:
        return voltage(current) - target

    x = max(-limit, min(limit, guess))
    fx = residual(x)
    if abs(fx) < tolerance:
        return x
    sense = 1.0 if fx < 0.0 else -1.0  # which way the current must move
    width = max(abs(x) * 0.1, 1e-7)
    while True:
        y = max(-limit, min(limit, x + sense * width))
        fy = residual(y)
        if (fy > 0.0) == (sense > 0.0) or fy == 0.0:
            break  # the root lies between x and y
        if y == x:
            return y  # at the current limit and still short of the target: compliance
        x, fx, width = y, fy, width * 4.0
    lo, flo, hi, fhi = (x, fx, y, fy) if x < y else (y, fy, x, fx)
    side = 0
    mid = y
    for _ in range(100):
        mid = hi - fhi * (hi - lo) / (fhi - flo)
        fmid = residual(mid)
        if abs(fmid) < tolerance or hi - lo < 1e-13:
            break
        if fmid < 0.0:
            lo, flo = mid, fmid
            if side < 0:
                fhi *= 0.5
            side = -1
        else:
            hi, fhi = mid, fmid
            if side > 0:
                flo *= 0.5
            side = 1
    return mid
