"""Cell faults the EmStat4 driver recognises in the data stream, and the short-circuit rule.

The instrument reports an open cell itself (the control amplifier saturates at its voltage
compliance and flags the overload). A short it cannot flag: current keeps flowing at the
set value and the voltage simply collapses. The driver therefore applies this rule to every
sample taken while current is forced (CC steps, pulses of a pulse train):

    |V| < short_voltage_V (default 50 mV), and |V| < 20 % of the highest |V| seen
    earlier in the same step; on a step's first sample, |V| < 20 % of short_voltage_V.

A collapse, not a low level, is what marks a short: a Li|Li symmetric cell works at tens
of millivolts and still passes (its voltage peaks, then settles at about half of the peak),
a fully discharged cathode never falls below a volt in one sample, but a shorted cell
drops to I·R_short (micro- to millivolts). Set `short_voltage_V=None` on the driver to turn
the rule off, or lower it for cells that run near 0 V by design.
"""

from __future__ import annotations

import math

from drivers.errors import CellFault

__all__ = ["SHORT_VOLTAGE_V", "CellFault", "is_short"]

SHORT_VOLTAGE_V = 0.05
COLLAPSE_FRACTION = 0.2


def is_short(voltage_V: float, peak_V: float | None, short_voltage_V: float | None) -> bool:
    """Apply the rule above to one forced-current sample; `peak_V` is the step's max |V|."""
    if short_voltage_V is None or not math.isfinite(voltage_V):
        return False
    level = abs(voltage_V)
    if level >= short_voltage_V:
        return False
    if peak_V is None:
        return level < COLLAPSE_FRACTION * short_voltage_V
    return level < COLLAPSE_FRACTION * peak_V
