"""How long a block a |dV/dt| limit averages over: one rule for the display and the run.

A rest that ends "when |dV/dt| < 1 mV/h" cannot take the derivative of two samples: 1 mV/h is
0.3 µV/s, far below one sample's noise. The instrument (or the host) compares the means of
consecutive blocks of this length instead (`drivers.relaxation` says exactly how), so a rest
with such a limit lasts at least two blocks after its blanking time.
"""

from __future__ import annotations

import math

MIN_WINDOW_S = 600.0  # blocks of at least 10 min: relaxation is slow, noise is not
MIN_SAMPLES_PER_WINDOW = 10
RESOLVED_V = 5e-5  # the threshold drift must move the voltage ≥ 50 µV over one block


def drift_window_s(threshold_V_s: float, sample_interval_s: float) -> float:
    """The block length for a |dV/dt| limit: long enough to average the noise down and for
    the threshold drift to move the voltage by RESOLVED_V over one block, in whole minutes."""
    resolved = RESOLVED_V / threshold_V_s if threshold_V_s > 0 else math.inf
    window = max(MIN_WINDOW_S, MIN_SAMPLES_PER_WINDOW * sample_interval_s, resolved)
    return 60.0 * math.ceil(window / 60.0 - 1e-9)  # whole minutes, as the display says
