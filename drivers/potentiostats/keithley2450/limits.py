"""Host-side step limits and the voltage compliance that backs them up on the SMU."""

from __future__ import annotations

import math
from collections.abc import Iterable

from drivers.potentiostat import StepCommand, StepLimit

MIN_VLIM_V = 0.02  # the 2450's smallest voltage limit


def value_of(
    limit: StepLimit, *, t_s: float, voltage_V: float, current_A: float, q_Ah: float
) -> float:
    """The quantity a limit watches, from one sample and the running step totals."""
    if limit.quantity == "voltage":
        return voltage_V
    if limit.quantity == "current":
        return current_A
    if limit.quantity == "abs_current":
        return abs(current_A)
    if limit.quantity == "time":
        return t_s
    return q_Ah


def first_fired(
    limits: Iterable[StepLimit], *, t_s: float, voltage_V: float, current_A: float, q_Ah: float
) -> StepLimit | None:
    """The first limit (in the step's order) that the sample satisfies, if any.

    dV_dt limits are not read from one sample: the driver's `DriftWatch`es evaluate them."""
    for limit in limits:
        if limit.quantity == "dV_dt":
            continue
        value = value_of(limit, t_s=t_s, voltage_V=voltage_V, current_A=current_A, q_Ah=q_Ah)
        if limit.met_by(value):
            return limit
    return None


def is_upper(limit: StepLimit) -> bool:
    return limit.op in (">", ">=")


def compliance_voltage(
    command: StepCommand, start_V: float, *, margin_V: float, ceiling_V: float
) -> float:
    """The VLIM for a step: just beyond everything the step may legitimately reach.

    A 2450 current source limits |V|, so VLIM must clear the starting voltage and every
    voltage limit of the step. A step that may raise the voltage without an upper voltage
    limit of its own (a rest relaxing upwards, a charge ended by time or capacity) gets the
    cell's ceiling instead, so the SMU never sinks current to hold a voltage.
    """
    voltage_limits = [lim for lim in command.limits if lim.quantity == "voltage"]
    values = [abs(start_V), *(abs(lim.value) for lim in voltage_limits)]
    has_upper = any(is_upper(lim) and lim.value > 0.0 for lim in voltage_limits)
    capped_charge = command.technique != "rest" and command.current_A > 0.0 and has_upper
    may_rise = command.technique in ("rest", "pulse_train") or command.current_A >= 0.0
    if may_rise and not capped_charge:
        values.append(ceiling_V)
    vlim = max(values) + margin_V
    if not math.isfinite(vlim):
        vlim = ceiling_V + margin_V
    return max(MIN_VLIM_V, vlim)
