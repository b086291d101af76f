"""The potentiostat capability interface the scheduler programs against.

A driver receives a `StepCommand` in SI units (current positive = charge, as in
the Battery Data Format) and yields `Sample`s while the step runs, ending with a
`StepEnd` that says which limit fired. Drivers never learn what a C-rate is.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Technique = Literal["rest", "cc", "cv", "eis", "geis", "pulse_train", "sweep"]
Phase = Literal["", "pulse", "relax"]  # within a pulse train; "" elsewhere

BASIC_LIMITS = frozenset({"voltage", "current", "abs_current", "time", "capacity"})

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class StepLimit:
    """An end condition the instrument (or the host loop) evaluates.

    quantity: "voltage" (V), "current" (A, signed), "abs_current" (A), "time" (s, step time),
    "capacity" (Ah, |charge| passed in the step), "dV_dt" (V/s, |dV/dt| from block means as
    `drivers.relaxation` defines it, evaluated from `after_s` on over blocks of `window_s`).
    """

    quantity: Literal["voltage", "current", "abs_current", "time", "capacity", "dV_dt"]
    op: Literal["<", "<=", ">", ">="]
    value: float
    name: str = ""  # shown in the end reason, e.g. "voltage <= 3.0 V"
    after_s: float = 0.0  # dV_dt only: blanking from the start of the rest or relaxation
    window_s: float = 0.0  # dV_dt only: the block length (0: `drift_window_s` decides)

    def met_by(self, measured: float) -> bool:
        """Whether a measured value of this limit's quantity satisfies the limit."""
        return _COMPARE[self.op](measured, self.value)


@dataclass(frozen=True)
class StepCommand:
    """One driver-level step, fully resolved to SI units."""

    technique: Technique
    duration_s: float  # hard upper bound on step time
    current_A: float = 0.0  # cc / pulse_train pulse current, positive = charge
    voltage_V: float = 0.0  # cv hold potential
    limits: tuple[StepLimit, ...] = ()
    sample_interval_s: float = 1.0
    # pulse train
    pulse_s: float = 0.0
    relax_s: float = 0.0  # the longest a relaxation lasts
    n_pulses: int = 0
    relax_limits: tuple[StepLimit, ...] = ()  # end each relaxation early (dV_dt)
    # impedance
    f_start_Hz: float = 1e5
    f_end_Hz: float = 0.1
    points_per_decade: int = 10
    amplitude: float = 0.01  # V for eis, A for geis
    dc_bias: float | None = None  # V for eis (None = OCV), A for geis (None = 0 A)
    # sweep
    sweep_vertices_V: tuple[float, ...] = ()
    scan_rate_V_s: float = 1e-4
    n_scans: int = 1
    sweep_from_ocv: bool = False  # start (and, with vertices, end) at the measured OCV


@dataclass(frozen=True)
class Sample:
    """One measured point. `t_s` is step time as reported by the instrument."""

    t_s: float
    voltage_V: float
    current_A: float
    phase: Phase = ""
    pulse_index: int | None = None
    status: int = 0  # instrument status bits (overload, underload, timing)
    index: int | None = None  # the instrument's own 1-based sample number within the step


@dataclass(frozen=True)
class ImpedancePoint:
    frequency_Hz: float
    z_real_ohm: float
    z_imag_ohm: float  # negative for capacitive behaviour


@dataclass(frozen=True)
class StepEnd:
    """How a step ended: the limit that fired, or the duration running out.

    `not_running`: an adopted step (`attach`) of which the instrument had nothing buffered
    and no script running: it never started, or its whole output was taken by the host
    process that went away. `tail_lost`: the step's closing lines never arrived (its end is
    inferred or unknown).
    """

    reason: Literal["limit", "time", "completed", "aborted", "error", "not_running"]
    limit: StepLimit | None = None
    message: str = ""
    samples: int = 0
    tail_lost: bool = False


@dataclass(frozen=True)
class Reattached:
    """The host link dropped mid-step and the driver picked the still-owned step up again.

    Yielded by drivers whose instrument keeps running the step on its own (`can_reattach`);
    the runner records it as an event. `down_s` is wall time without a link.
    """

    down_s: float
    message: str = ""


@dataclass(frozen=True)
class Gap:
    """Samples the instrument numbered but the host never received (lost with the link).

    `missing` holds the instrument's sample indices (see `Sample.index`); they are reported,
    never silently skipped, so that stored data and the instrument's record can be reconciled.
    """

    missing: tuple[int, ...]
    message: str = ""


StepItem = Sample | ImpedancePoint | Reattached | Gap | StepEnd


@dataclass(frozen=True)
class Identity:
    vendor: str
    model: str
    serial: str = ""
    firmware: str = ""


@dataclass(frozen=True)
class Capabilities:
    techniques: frozenset[str]
    max_abs_current_A: float
    voltage_range_V: tuple[float, float]
    on_device_limits: bool  # True: limits run on the instrument; False: host-side loop
    can_reattach: bool
    # StepLimit quantities the driver evaluates itself (the runner watches the others)
    limit_quantities: frozenset[str] = BASIC_LIMITS
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Potentiostat(Protocol):
    """One potentiostat channel."""

    async def identify(self) -> Identity: ...

    async def capabilities(self) -> Capabilities: ...

    def run(self, command: StepCommand) -> AsyncIterator[StepItem]:
        """Start one step and stream it: samples (or impedance points), then one StepEnd."""
        ...

    def attach(
        self, command: StepCommand, *, after_index: int | None = None
    ) -> AsyncIterator[StepItem]:
        """Re-attach to `command`, a step a previous host process started, and stream it on.

        For instruments that keep running a step without the host (`can_reattach`): call it
        on a freshly connected driver. Samples the instrument produced meanwhile arrive first;
        `after_index` is the last `Sample.index` the host already stored, so that earlier
        samples are dropped and missed ones reported as a `Gap`. An instrument that cannot
        re-attach (`can_reattach` is False) raises InstrumentError saying so.
        """
        ...

    async def abort(self) -> None:
        """Stop the running step now; it ends with a StepEnd of reason "aborted".

        The cell is left as the step's end leaves it (off for an on-device script, at rest
        for a host-side loop); `safe()` is the call that guarantees it is off. Does nothing
        when no step is running.
        """
        ...

    async def safe(self) -> None:
        """Cell off / open circuit, whatever the instrument was doing."""
        ...

    async def close(self) -> None: ...
