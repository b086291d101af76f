"""Resolved protocol steps: what a validated protocol becomes once bound to a cell.

Everything here is in SI units (s, V, A, Ah, Hz) except temperature in degC and
pressure in Pa, the units the Battery Data Format stores. Current is signed
with positive meaning charge (BDF convention). The scheduler turns these steps
into driver commands; nothing here knows about instruments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Comparison = Literal["<", "<=", ">", ">="]
Action = Literal["next", "goto", "end_loop", "end_test", "pause", "abort"]

# Quantities a limit can watch. Units: s, s, V, A, A (|I|), 1 (|I|/I_1C), Ah, V/s, A/s,
# degC, Pa, 1, 1. `dV_dt` and `dI_dt` compare magnitudes (|dV/dt|, |dI/dt|), as a rest
# that ends "when the voltage drifts less than 1 mV/h" means in either direction.
# `step_capacity` is the charge passed in the step, |Q|. `voltage` is the cell voltage.
LimitQuantity = Literal[
    "step_time",
    "test_time",
    "voltage",
    "current",
    "abs_current",
    "rate",
    "step_capacity",
    "dV_dt",
    "dI_dt",
    "temperature",
    "pressure",
    "cycle_count",
    "loop_count",
]


@dataclass(frozen=True)
class Limit:
    """One end condition of a step: when `quantity op value` holds, take `action`."""

    quantity: LimitQuantity
    op: Comparison
    value: float
    action: Action = "next"
    target: str | None = None  # tag name for action == "goto"
    after_s: float = 0.0  # blanking time before the limit is evaluated
    label: str = ""  # as the user wrote it, e.g. "voltage <= 3.0 V"
    target_index: int | None = None  # resolved step index of `target` for action == "goto"

    def holds(self, measured: float) -> bool:
        """True when the measured value satisfies the comparison."""
        if self.op == "<":
            return measured < self.value
        if self.op == "<=":
            return measured <= self.value
        if self.op == ">":
            return measured > self.value
        return measured >= self.value


@dataclass(frozen=True)
class Record:
    """Recording rule: log a point every dt, or on a change of dV or dI, whichever first."""

    dt_s: float = 10.0
    dV_V: float | None = None
    dI_A: float | None = None


@dataclass(frozen=True)
class Safety:
    """Whole-protocol safety limits; always enforced, separate from step ends."""

    voltage_min_V: float | None = None
    voltage_max_V: float | None = None
    abs_current_max_A: float | None = None
    temperature_min_degC: float | None = None
    temperature_max_degC: float | None = None
    capacity_max_Ah: float | None = None
    pressure_min_Pa: float | None = None
    pressure_max_Pa: float | None = None


@dataclass(frozen=True)
class Step:
    """Common fields of every resolved step."""

    index: int  # position in the flattened program, stable for one plan
    label: str = ""
    cycle_type: str | None = None
    record: Record = field(default_factory=Record)
    limits: tuple[Limit, ...] = ()
    tag: str | None = None

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Rest(Step):
    """Open circuit; records the open-circuit voltage."""


@dataclass(frozen=True)
class ConstantCurrent(Step):
    current_A: float = 0.0  # positive = charge
    c_rate: float | None = None  # the C-rate it came from, if any


@dataclass(frozen=True)
class ConstantVoltage(Step):
    voltage_V: float = 0.0
    current_limit_A: float | None = None


@dataclass(frozen=True)
class ConstantCurrentConstantVoltage(Step):
    current_A: float = 0.0
    voltage_V: float = 0.0
    c_rate: float | None = None


@dataclass(frozen=True)
class ConstantPower(Step):
    power_W: float = 0.0  # positive = charge


@dataclass(frozen=True)
class PulseTrain(Step):
    """GITT/HPPC: n pulses of current, each followed by a relaxation at open circuit.

    `limits` end the whole train (e.g. a voltage cut during a pulse).
    """

    pulse_current_A: float = 0.0
    pulse_s: float = 0.0
    relax_s: float = 0.0
    n_pulses: int = 1
    relax_dV_dt_V_s: float | None = None  # optional relaxation end on |dV/dt|
    c_rate: float | None = None


@dataclass(frozen=True)
class Impedance(Step):
    """EIS: potentiostatic (amplitude in V) or galvanostatic (amplitude in A)."""

    mode: Literal["potentiostatic", "galvanostatic"] = "potentiostatic"
    f_start_Hz: float = 1e5
    f_end_Hz: float = 0.1
    points_per_decade: int = 10
    amplitude: float = 0.01
    dc_bias: float | None = None  # None = at open-circuit voltage (or 0 A for GEIS)
    averages: int = 1


@dataclass(frozen=True)
class Sweep(Step):
    """Linear sweep / cyclic voltammetry between vertices."""

    start_V: float = 0.0
    vertices_V: tuple[float, ...] = ()
    end_V: float = 0.0
    scan_rate_V_s: float = 1e-4
    n_cycles: int = 1
    start_at_ocv: bool = False  # start (and end) at the open-circuit voltage instead of start_V


@dataclass(frozen=True)
class SetTemperature(Step):
    target_degC: float = 25.0
    ramp_K_per_min: float | None = None
    tolerance_K: float = 0.5
    stable_for_s: float = 0.0
    soak_s: float = 0.0
    timeout_s: float | None = None


@dataclass(frozen=True)
class SetPressure(Step):
    target_Pa: float = 0.0
    tolerance_Pa: float = 0.5e6
    settle_s: float = 0.0
    timeout_s: float | None = None


@dataclass(frozen=True)
class Wait(Step):
    """Wait at open circuit until one of `limits` holds (e.g. |dV/dt| small)."""


@dataclass(frozen=True)
class AdvanceCycle(Step):
    """Increment the cycle counter; records nothing."""


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended, as the runner reports it back to the sequencer.

    `fired` is the limit that ended the step, or None when the step completed by
    itself (e.g. an EIS sweep or a pulse train that ran all its pulses).
    """

    fired: Limit | None = None
    reason: str = ""
