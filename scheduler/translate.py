"""Turn resolved protocol steps into driver step commands.

This is the one place where protocol steps meet driver calls. Limits the instrument can
evaluate (voltage, current, step time, step capacity, and |dV/dt| where the driver says it
evaluates it) go into the command; the rest (temperature, test time, counters, |dV/dt| on an
instrument that cannot) stay with the runner as host-side limits. A pulse train's relaxation
end on |dV/dt| needs the instrument: the host cannot end one relaxation inside a train.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.potentiostat import BASIC_LIMITS, StepCommand, StepLimit
from protocols import steps as p
from protocols.display import describe_limit
from protocols.relaxation import drift_window_s
from scheduler.errors import SchedulerError

# How long a step may run when the protocol gives no time bound (a safety net, not a limit
# the user chose): one simulated month.
UNBOUNDED_STEP_S = 30 * 24 * 3600.0
INSTRUMENT_QUANTITIES = {
    "voltage": "voltage",
    "current": "current",
    "abs_current": "abs_current",
    "step_time": "time",
    "step_capacity": "capacity",
    "dV_dt": "dV_dt",
}


@dataclass(frozen=True)
class Translation:
    """A driver command plus the bookkeeping to map its end back to the protocol."""

    command: StepCommand
    device_limits: tuple[p.Limit, ...]  # same order as command.limits
    host_limits: tuple[p.Limit, ...]  # evaluated by the runner on each sample

    def protocol_limit(self, fired: StepLimit | None) -> p.Limit | None:
        if fired is None:
            return None
        for device, original in zip(self.command.limits, self.device_limits, strict=True):
            if device == fired:
                return original
        return None


def drift_limit(limit: p.Limit, sample_interval_s: float) -> StepLimit:
    """A protocol |dV/dt| limit as the driver evaluates it, with its block length fixed here
    (so that the instrument, the host and the display use one window)."""
    return StepLimit(
        "dV_dt",
        limit.op,
        limit.value,
        limit.label or describe_limit(limit, sample_interval_s),
        after_s=limit.after_s,
        window_s=drift_window_s(limit.value, sample_interval_s),
    )


def _split_limits(
    limits: tuple[p.Limit, ...],
    one_c_A: float | None,
    interval_s: float,
    quantities: frozenset[str],
) -> tuple[list[StepLimit], list[p.Limit], list[p.Limit]]:
    device: list[StepLimit] = []
    device_src: list[p.Limit] = []
    host: list[p.Limit] = []
    for limit in limits:
        quantity = limit.quantity
        value = limit.value
        if quantity == "rate" and one_c_A:
            quantity, value = "abs_current", value * one_c_A
        name = INSTRUMENT_QUANTITIES.get(quantity)
        if name == "dV_dt" and name in quantities:
            device.append(drift_limit(limit, interval_s))
            device_src.append(limit)
        elif name in quantities and limit.after_s == 0.0:
            device.append(
                StepLimit(
                    name,  # type: ignore[arg-type]
                    limit.op,
                    value,
                    limit.label or f"{limit.quantity} {limit.op} {limit.value:g}",
                )
            )
            device_src.append(limit)
        else:
            host.append(limit)
    return device, device_src, host


def _duration(limits: tuple[p.Limit, ...]) -> float:
    bounds = [lim.value for lim in limits if lim.quantity == "step_time" and lim.op in (">", ">=")]
    return min(bounds) if bounds else UNBOUNDED_STEP_S


def translate_phases(
    step: p.Step, *, one_c_A: float | None = None, quantities: frozenset[str] = BASIC_LIMITS
) -> list[Translation]:
    """Driver commands for a step, in order; CC-CV becomes a CC phase then a CV phase.

    The CC phase ends when the voltage reaches the CV set point (or on the step's time and
    capacity limits); the CV phase carries all of the step's own limits.
    """
    if not isinstance(step, p.ConstantCurrentConstantVoltage):
        return [translate(step, one_c_A=one_c_A, quantities=quantities)]
    charging = step.current_A > 0
    reach = p.Limit(
        "voltage",
        ">=" if charging else "<=",
        step.voltage_V,
        label=f"voltage {'>=' if charging else '<='} {step.voltage_V:g} V (CC to CV)",
    )
    bounds = tuple(lim for lim in step.limits if lim.quantity in ("step_time", "step_capacity"))
    cc = p.ConstantCurrent(
        index=step.index,
        label=step.label,
        record=step.record,
        limits=(reach, *bounds),
        current_A=step.current_A,
    )
    cv = p.ConstantVoltage(
        index=step.index,
        label=step.label,
        record=step.record,
        limits=step.limits,
        voltage_V=step.voltage_V,
        current_limit_A=abs(step.current_A),
    )
    return [
        translate(cc, one_c_A=one_c_A, quantities=quantities),
        translate(cv, one_c_A=one_c_A, quantities=quantities),
    ]


def translate(
    step: p.Step, *, one_c_A: float | None = None, quantities: frozenset[str] = BASIC_LIMITS
) -> Translation:
    """Driver command for an electrochemical step; SchedulerError for anything else.

    `quantities` are the StepLimit quantities the instrument evaluates itself."""
    interval = max(step.record.dt_s, 1e-3)
    device, device_src, host = _split_limits(step.limits, one_c_A, interval, quantities)
    common: dict[str, Any] = {
        "duration_s": _duration(step.limits),
        "limits": tuple(device),
        "sample_interval_s": interval,
    }
    if isinstance(step, p.ConstantCurrent):
        command = StepCommand("cc", current_A=step.current_A, **common)
    elif isinstance(step, p.Rest | p.Wait):
        command = StepCommand("rest", **common)
    elif isinstance(step, p.ConstantVoltage):
        command = StepCommand("cv", voltage_V=step.voltage_V, **common)
    elif isinstance(step, p.PulseTrain):
        total = step.n_pulses * (step.pulse_s + step.relax_s)
        command = StepCommand(
            "pulse_train",
            current_A=step.pulse_current_A,
            pulse_s=step.pulse_s,
            relax_s=step.relax_s,
            n_pulses=step.n_pulses,
            relax_limits=_relax_limits(step, interval, quantities),
            duration_s=total,
            limits=tuple(device),
            sample_interval_s=interval,
        )
    elif isinstance(step, p.Impedance):
        command = StepCommand(
            "eis" if step.mode == "potentiostatic" else "geis",
            duration_s=UNBOUNDED_STEP_S,
            f_start_Hz=step.f_start_Hz,
            f_end_Hz=step.f_end_Hz,
            points_per_decade=step.points_per_decade,
            amplitude=step.amplitude,
            dc_bias=step.dc_bias,
        )
    elif isinstance(step, p.Sweep):
        command = StepCommand(
            "sweep",
            duration_s=UNBOUNDED_STEP_S,
            sweep_vertices_V=(step.start_V, *step.vertices_V, step.end_V),
            scan_rate_V_s=step.scan_rate_V_s,
            n_scans=step.n_cycles,
            sample_interval_s=interval,
            sweep_from_ocv=step.start_at_ocv,
            limits=tuple(device),  # e.g. an LSV that stops once the current passes a bound
        )
    else:
        raise SchedulerError(f"step {step.index} ({step.kind}) is not an electrochemical step")
    return Translation(command, tuple(device_src), tuple(host))


def _relax_limits(
    step: p.PulseTrain, interval_s: float, quantities: frozenset[str]
) -> tuple[StepLimit, ...]:
    """Each relaxation's end on |dV/dt|; SchedulerError when the instrument cannot end one."""
    if not step.relax_dV_dt_V_s:
        return ()
    if "dV_dt" not in quantities:
        raise SchedulerError(
            f"step {step.index} ({step.label or step.kind}) rests each relaxation until "
            f"|dV/dt| < {step.relax_dV_dt_V_s * 3.6e6:.4g} mV/h, which this instrument cannot "
            "evaluate; run it on an instrument that can, or drop relax_until_dV_dt"
        )
    limit = p.Limit("dV_dt", "<", step.relax_dV_dt_V_s)
    return (drift_limit(limit, interval_s),)
