"""The |dV/dt| a rest ends on, measured the one way every instrument and the host share.

A point-to-point derivative is useless here: 1 mV/h is 0.3 µV/s, far below the voltage noise
of one sample. The drift is therefore read from block means. From its first evaluated sample
(after the limit's blanking time) the rest is cut into consecutive blocks of `window_s`: a block
closes at the first sample at least `window_s` after the block's first sample. Each closed block
gives the mean of its samples; the drift is |mean − previous mean| / window_s, evaluated when a
block closes and compared with the limit. Means are of V − V_ref (V_ref = the first evaluated
sample) so that an instrument working in single precision keeps its resolution. The block
length is the protocol's choice (`protocols.relaxation.drift_window_s` for the language's
limits) and travels in the limit.

The same rule runs on the EmStat4 as MethodSCRIPT (see `emstat4.scripts`), in the Keithley's
host loop, and in the runner for instruments that cannot evaluate it: `DriftWatch` is its
reference implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.potentiostat import StepLimit


@dataclass
class DriftWatch:
    """Host-side evaluation of one dV_dt StepLimit; feed it (time, voltage) of each sample.

    `t_s` is the time since the rest (or relaxation) began; the limit's `after_s` blanks the
    start and its `window_s` (> 0) is the block length. `update` returns True on the sample at
    which the limit holds.
    """

    limit: StepLimit
    _ref_V: float = math.nan
    _block_start_s: float = math.nan
    _sum_V: float = 0.0
    _count: int = 0
    _previous_mean_V: float = math.nan
    last_drift_V_s: float = math.nan  # the drift of the last closed pair of blocks

    def update(self, t_s: float, voltage_V: float) -> bool:
        if t_s < self.limit.after_s:
            return False
        if math.isnan(self._ref_V):
            self._ref_V, self._block_start_s = voltage_V, t_s
        self._sum_V += voltage_V - self._ref_V
        self._count += 1
        if t_s - self._block_start_s < self.limit.window_s:
            return False
        mean = self._sum_V / self._count
        previous, self._previous_mean_V = self._previous_mean_V, mean
        self._sum_V, self._count, self._block_start_s = 0.0, 0, t_s
        if math.isnan(previous):
            return False
        self.last_drift_V_s = abs(mean - previous) / self.limit.window_s
        return self.limit.met_by(self.last_drift_V_s)
