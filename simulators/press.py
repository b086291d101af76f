"""The stack-pressure press: gas pressure → cylinder force → stack pressure on the cell.

Model (reference/instruments.md 3.4):

- An electronic pressure controller regulates the cylinder's gas pressure toward its
  setpoint as a first-order response (regulator_tau_s), limited by the supply pressure. A leak
  lowers the pressure the controller can reach, and with the valves held closed it bleeds the
  cylinder down.
- Cylinder force F_cyl = P_gas·A_piston − friction (never negative).
- The fixture relaxes after loading (creep): the force that reaches the stack is
  F_stack = F_cyl·(1 − c_fast − c_slow), where each c relaxes toward its fraction while loaded
  (and back to zero when unloaded) with its own time constant. Without control the stack
  pressure sags by several per cent over a day.
- Stack pressure = F_stack / A_cell (N/mm² = MPa).
- The load cell in series reads F_stack·(1 + span·ΔT) + zero·ΔT + drift + noise, where
  ΔT = T − T_cal: load cells are temperature-sensitive.

Every first-order element is integrated exactly, so any observation interval gives the same
physics. Faults: gas leak, load-cell drift (N/h), a valve stuck open (gas goes to supply).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.errors import SimulatorError
from simulators.faults import check_fault, number

PRESS_FAULTS = ("leak", "load-cell-drift", "valve-stuck-open")
LOADED_N = 1.0  # cylinder force above which the fixture counts as loaded


@dataclass
class PressParams:
    piston_area_mm2: float = math.pi * 25.0**2  # Ø50 mm cylinder
    cell_area_mm2: float = math.pi * 5.0**2  # Ø10 mm pellet
    friction_N: float = 15.0
    supply_Pa: float = 1.0e6  # gauge
    regulator_tau_s: float = 1.5
    creep_fast: float = 0.04
    creep_fast_tau_s: float = 1800.0
    creep_slow: float = 0.06
    creep_slow_tau_s: float = 8 * 3600.0
    load_cell_span_per_K: float = 5e-4
    load_cell_zero_N_per_K: float = 0.5
    load_cell_cal_degC: float = 25.0
    load_cell_noise_N: float = 0.3

    def __post_init__(self) -> None:
        for name in (
            "piston_area_mm2",
            "cell_area_mm2",
            "supply_Pa",
            "regulator_tau_s",
            "creep_fast_tau_s",
            "creep_slow_tau_s",
        ):
            if not getattr(self, name) > 0:
                raise SimulatorError(f"press parameter {name} must be positive.")


@dataclass
class PressFaults:
    leak_fraction: float = 0.0  # 0..1 of the supply lost through a leak
    load_cell_drift_N_per_h: float = 0.0
    valve_stuck_open: bool = False


@dataclass
class PressPlant:
    """One pneumatic stack-pressure press with its load cell."""

    params: PressParams = field(default_factory=PressParams)
    seed: int | None = None
    faults: PressFaults = field(default_factory=PressFaults)

    def __post_init__(self) -> None:
        self.t = 0.0
        self.gas_Pa = 0.0
        self.setpoint_Pa = 0.0
        self.hold = ""  # "", "closed" or "position"
        self.creep_fast = 0.0
        self.creep_slow = 0.0
        self.drift_N = 0.0
        self.load_cell_degC = self.params.load_cell_cal_degC
        self._rng = np.random.default_rng(self.seed)

    # -- commands ----------------------------------------------------------------------------
    def set_setpoint(self, pascal: float) -> None:
        if not 0.0 <= pascal <= self.params.supply_Pa:
            raise SimulatorError(
                f"gas setpoint {pascal:g} Pa is outside 0..{self.params.supply_Pa:g} Pa."
            )
        self.setpoint_Pa = float(pascal)

    def set_hold(self, hold: str) -> None:
        if hold not in ("", "closed", "position"):
            raise SimulatorError(f"valve hold {hold!r} is not '', 'closed' or 'position'.")
        self.hold = hold

    # -- faults ------------------------------------------------------------------------------
    def inject(self, fault: str, value: Any = None) -> None:
        """leak (`value`: the fraction of the supply lost, 0-1, default 0.5), load-cell-drift
        (`value` N/h, default 500) or valve-stuck-open."""
        check_fault(fault, PRESS_FAULTS, "press")
        if fault == "leak":
            fraction = number(value, 0.5)
            if not 0 <= fraction <= 1:
                raise SimulatorError(f"a leak is a fraction of the supply, 0-1, not {fraction}")
            self.faults.leak_fraction = fraction
        elif fault == "load-cell-drift":
            self.faults.load_cell_drift_N_per_h = number(value, 500.0)
        else:
            self.faults.valve_stuck_open = True

    def clear_faults(self) -> None:
        self.faults = PressFaults()

    def state(self) -> dict[str, Any]:
        """The true stack pressure and gas pressure (the instruments only measure them)."""
        return {
            "stack_pressure_MPa": self.stack_pressure_MPa,
            "gas_Pa": self.gas_Pa,
            "faults": dict(vars(self.faults)),
        }

    # -- state -------------------------------------------------------------------------------
    @property
    def cylinder_force_N(self) -> float:
        p = self.params
        return max(0.0, self.gas_Pa * p.piston_area_mm2 * 1e-6 - p.friction_N)

    @property
    def stack_force_N(self) -> float:
        return self.cylinder_force_N * (1.0 - self.creep_fast - self.creep_slow)

    @property
    def stack_pressure_MPa(self) -> float:
        return self.stack_force_N / self.params.cell_area_mm2

    def load_cell_N(self) -> float:
        """What the load cell reads now (temperature error, drift and noise included)."""
        p = self.params
        dt = self.load_cell_degC - p.load_cell_cal_degC
        reading = self.stack_force_N * (1.0 + p.load_cell_span_per_K * dt)
        reading += p.load_cell_zero_N_per_K * dt + self.drift_N
        return reading + float(self._rng.normal(0.0, p.load_cell_noise_N))

    def _gas_target(self) -> tuple[float, float]:
        """Where the gas pressure heads now, and how fast (time constant)."""
        p = self.params
        reachable = p.supply_Pa * (1.0 - min(1.0, max(0.0, self.faults.leak_fraction)))
        if self.faults.valve_stuck_open:
            return reachable, p.regulator_tau_s
        if self.hold:
            if self.faults.leak_fraction > 0:  # a closed cylinder bleeds through the leak
                return 0.0, p.regulator_tau_s / self.faults.leak_fraction
            return self.gas_Pa, math.inf
        return min(self.setpoint_Pa, reachable), p.regulator_tau_s

    # -- integration -------------------------------------------------------------------------
    def advance_to(self, t: float) -> None:
        dt = t - self.t
        if dt <= 0:
            return
        p = self.params
        target, tau = self._gas_target()
        if math.isfinite(tau):
            self.gas_Pa = target + (self.gas_Pa - target) * math.exp(-dt / tau)
        loaded = self.cylinder_force_N > LOADED_N
        for name, fraction, tau_c in (
            ("creep_fast", p.creep_fast, p.creep_fast_tau_s),
            ("creep_slow", p.creep_slow, p.creep_slow_tau_s),
        ):
            goal = fraction if loaded else 0.0
            value = getattr(self, name)
            setattr(self, name, goal + (value - goal) * math.exp(-dt / tau_c))
        self.drift_N += self.faults.load_cell_drift_N_per_h * dt / 3600.0
        self.t = t
