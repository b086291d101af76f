"""What the runner keeps for one running step: its integrals, and its host-side limits.

Limits an instrument cannot evaluate itself (dV/dt, test time, cycle count, ...) are checked
by the host on every sample; the step's running integrals count the run's cumulative
capacity and energy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.relaxation import DriftWatch
from protocols import steps as p
from scheduler.run_state import RunState
from scheduler.translate import drift_limit


@dataclass
class StepTally:
    """A step's running integrals between two samples (trapezoidal, in Ah and Wh)."""

    offset: float  # added to the instrument's step time (a CC-CV's CV phase)
    last_t: float
    last_v: float = math.nan
    last_i: float = 0.0
    charge_Ah: float = 0.0  # |charge| through the step, for the step-capacity safety limit

    def count(self, state: RunState, t: float, voltage: float, current: float) -> None:
        """Add the interval up to (t, voltage, current) to the run's cumulative counters."""
        dt = max(t - self.last_t, 0.0)
        first = not math.isfinite(self.last_v)  # the source was at this current from t=0
        prev_i = current if first else self.last_i
        prev_v = voltage if first else self.last_v
        dq = 0.5 * (current + prev_i) * dt / 3600.0
        dE = 0.5 * (current * voltage + prev_i * prev_v) * dt / 3600.0
        if dq > 0:
            state.charge_Ah += dq
            state.charge_Wh += dE
        elif dq < 0:
            state.discharge_Ah -= dq
            state.discharge_Wh -= dE
        self.charge_Ah += abs(dq)


def check_host(
    state: RunState,
    limits: tuple[p.Limit, ...],
    t: float,
    voltage: float,
    current: float,
    drifts: dict[p.Limit, DriftWatch],
) -> p.Limit | None:
    """The first of `limits` that holds at this sample; |dV/dt| is judged by block means
    (`drifts` keeps each limit's watch over the running step), never from two samples."""
    for limit in limits:
        if t < limit.after_s:
            continue
        if limit.quantity == "dV_dt":
            watch = drifts.get(limit)
            if watch is None:  # the first sample of the step that reaches this limit
                interval = max(state.step.record.dt_s, 1e-3) if state.step else 1.0
                watch = drifts[limit] = DriftWatch(drift_limit(limit, interval))
            if watch.update(t, voltage):
                return limit
            continue
        elif limit.quantity == "test_time":
            measured = state.test_time_s + t
        elif limit.quantity == "voltage":
            measured = voltage
        elif limit.quantity in ("current",):
            measured = current
        elif limit.quantity in ("abs_current",):
            measured = abs(current)
        elif limit.quantity == "step_time":
            measured = t
        elif limit.quantity == "cycle_count":
            measured = state.cycle
        else:
            continue
        if limit.holds(measured):
            return limit
    return None
