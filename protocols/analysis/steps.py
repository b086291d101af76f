"""IR drop at each current switch: R_DC = |V(t0 + Δt) − V(t0⁻)| / |ΔI|, with Δt reported.

t0 is the switch: the start of the new step (test time − step time of its first sample) when the
step time is logged, else the last sample before the switch. V(t0⁻) is that last sample's
voltage. With `delta_t_s` unset, V(t0 + Δt) is the first sample after the switch and Δt is
whatever the logger gave; with it set, the voltage is interpolated at exactly t0 + Δt. The
same Δt across a test keeps the numbers comparable: a longer Δt folds in charge transfer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from protocols.analysis._data import finite, float_column, same_length
from protocols.analysis.errors import AnalysisError

TECHNIQUE = "IR drop"


@dataclass(frozen=True)
class IrDrop:
    index: int  # first sample after the switch
    time_s: float  # t0
    cycle: int | None
    step_count: int | None
    current_before_A: float
    current_after_A: float
    voltage_before_V: float
    voltage_after_V: float
    dt_s: float  # Δt between t0 and the voltage read after it
    resistance_ohm: float

    @property
    def kind(self) -> str:
        """What the switch did: "charge onset", "discharge onset", "rest onset" or "reversal"."""
        before, after = self.current_before_A, self.current_after_A
        if after == 0 or abs(after) < 1e-3 * abs(before):
            return "rest onset"
        if before == 0 or abs(before) < 1e-3 * abs(after) or np.sign(before) == np.sign(after):
            return "charge onset" if after > 0 else "discharge onset"
        return "reversal"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind
        return data


def ir_drops(
    samples: Mapping[str, Any],
    *,
    delta_t_s: float | None = None,
    min_delta_A: float | None = None,
) -> tuple[IrDrop, ...]:
    """Every current switch larger than `min_delta_A` (default 1 % of the largest |I|)."""
    time = finite(float_column(samples, "test_time_s", TECHNIQUE), "test_time_s", TECHNIQUE)
    volts = float_column(samples, "voltage_V", TECHNIQUE)
    current = np.nan_to_num(float_column(samples, "current_A", TECHNIQUE))
    step_time = float_column(samples, "step_time_s", TECHNIQUE, required=False)
    cycles = samples.get("cycle") if hasattr(samples, "get") else None
    steps = samples.get("step_count") if hasattr(samples, "get") else None
    n = same_length(
        [("test_time_s", time), ("voltage_V", volts), ("current_A", current)], TECHNIQUE
    )
    if delta_t_s is not None and not delta_t_s > 0:
        raise AnalysisError(TECHNIQUE, "delta_t_s", "Δt must be a positive number of seconds.")
    if n < 2:
        return ()
    peak = float(np.max(np.abs(current)))
    threshold = 0.01 * peak if min_delta_A is None else float(min_delta_A)
    if peak == 0:
        return ()
    switches = np.flatnonzero(np.abs(np.diff(current)) > threshold) + 1
    drops = []
    for k in switches.tolist():
        if step_time is not None and math.isfinite(step_time[k]):
            t0 = float(time[k] - step_time[k])
        else:
            t0 = float(time[k - 1])
        v_before = float(volts[k - 1])
        i_before, i_after = float(current[k - 1]), float(current[k])
        if delta_t_s is None:
            dt, v_after = float(time[k] - t0), float(volts[k])
        else:
            found = _voltage_at(time, volts, current, k, t0 + delta_t_s, threshold)
            if found is None:
                continue
            dt, v_after = delta_t_s, found
        if not (math.isfinite(v_before) and math.isfinite(v_after)):
            continue
        drops.append(
            IrDrop(
                index=k,
                time_s=t0,
                cycle=int(cycles[k]) if cycles is not None else None,
                step_count=int(steps[k]) if steps is not None else None,
                current_before_A=i_before,
                current_after_A=i_after,
                voltage_before_V=v_before,
                voltage_after_V=v_after,
                dt_s=dt,
                resistance_ohm=abs(v_after - v_before) / abs(i_after - i_before),
            )
        )
    return tuple(drops)


def _voltage_at(
    time: np.ndarray,
    volts: np.ndarray,
    current: np.ndarray,
    k: int,
    target: float,
    threshold: float,
) -> float | None:
    """V at `target`, interpolated inside the step that starts at sample k (None if it ends)."""
    level = current[k]
    j = k
    while j < time.size and abs(current[j] - level) <= threshold:
        if time[j] >= target:
            if j == k or time[j] == time[j - 1]:
                return float(volts[j])
            w = (target - time[j - 1]) / (time[j] - time[j - 1])
            return float(volts[j - 1] + w * (volts[j] - volts[j - 1]))
        j += 1
    return None


def cycle_ir(
    samples: Mapping[str, Any], *, kind: str = "discharge onset", delta_t_s: float | None = None
) -> dict[int, float]:
    """R_DC of the first switch of `kind` in each cycle (e.g. the drop at discharge onset)."""
    out: dict[int, float] = {}
    for drop in ir_drops(samples, delta_t_s=delta_t_s):
        if drop.kind == kind and drop.cycle is not None and drop.cycle not in out:
            out[drop.cycle] = drop.resistance_ohm
    return out
