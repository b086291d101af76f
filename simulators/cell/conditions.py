"""What every simulated cell shares: its stack conditions, faults, noise, time and stepping.

The NCM811 half cell and the electrolyte-only cells differ only in their physics; how a cell
takes a temperature and a stack pressure, how a short or an open circuit shows at the terminals
and how a step advances the clock are one rule, kept here.
"""

from __future__ import annotations

import math
from typing import Protocol, TypedDict, Unpack

import numpy as np

from simulators.errors import SimulatorError

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)
KELVIN = 273.15


def arrhenius_factor(ea_kj_mol: float, temperature_k: float, reference_k: float) -> float:
    """k(T)/k(T_ref) for a thermally activated rate: exp(-Ea/R·(1/T - 1/T_ref))."""
    return math.exp(-ea_kj_mol * 1000.0 / GAS_CONSTANT * (1.0 / temperature_k - 1.0 / reference_k))


class SharedParameters(Protocol):
    """The parameters every cell kind has: the contact law and how it is measured."""

    T_ref_degC: float
    R_contact_ohm: float
    P_ref_MPa: float
    contact_P0_MPa: float
    contact_exponent: float
    noise_V: float
    eis_noise_rel: float
    rail_V: float
    short_ohm: float


class CellStart(TypedDict, total=False):
    """How a simulated cell starts: its temperature (left out or None: the preset's T_ref),
    its stack pressure in MPa (0) and the seed of its noise (None: a fresh one)."""

    temperature_degC: float | None
    pressure_MPa: float
    seed: int | None


class CellConditions:
    """Conditions, faults, noise and the stepping frame; a kind adds its physics."""

    params: SharedParameters

    def __init__(self, params: SharedParameters, **start: Unpack[CellStart]) -> None:
        self.params = params
        self._rng = np.random.default_rng(start.get("seed"))
        self._t_ref_k = params.T_ref_degC + KELVIN
        self._fault: str | None = None
        self._time_s = 0.0
        temperature_degC = start.get("temperature_degC")
        self._temperature_degC = params.T_ref_degC if temperature_degC is None else temperature_degC
        self._pressure_MPa = 0.0
        self._set_conditions(self._temperature_degC, start.get("pressure_MPa", 0.0))

    # --- conditions ----------------------------------------------------------------------
    def _set_conditions(self, temperature_degC: float, pressure_MPa: float) -> None:
        """Check and take T and P; a kind extends this with its own T- and P-dependent values."""
        p = self.params
        if not -80.0 <= temperature_degC <= 200.0:
            raise SimulatorError(f"cell temperature {temperature_degC} °C is outside -80..200 °C.")
        if not 0.0 <= pressure_MPa <= 2000.0:
            raise SimulatorError(f"stack pressure {pressure_MPa} MPa is outside 0..2000 MPa.")
        self._temperature_degC = float(temperature_degC)
        self._pressure_MPa = float(pressure_MPa)
        self._t_k = temperature_degC + KELVIN
        self._f_over_rt = FARADAY / (GAS_CONSTANT * self._t_k)
        if p.R_contact_ohm > 0.0:
            ratio = (p.P_ref_MPa + p.contact_P0_MPa) / (pressure_MPa + p.contact_P0_MPa)
            self._r_contact = p.R_contact_ohm * ratio**p.contact_exponent
        else:
            self._r_contact = 0.0

    def set_temperature(self, degC: float) -> None:
        """Cell temperature (from its chamber): the kind's rates follow Arrhenius."""
        if degC != self._temperature_degC:
            self._set_conditions(degC, self._pressure_MPa)

    def set_pressure(self, MPa: float) -> None:
        """Stack pressure (from its rig): the contact resistance follows it."""
        if MPa != self._pressure_MPa:
            self._set_conditions(self._temperature_degC, MPa)

    @property
    def temperature_degC(self) -> float:
        return self._temperature_degC

    @property
    def pressure_MPa(self) -> float:
        return self._pressure_MPa

    @property
    def time_s(self) -> float:
        """Simulated seconds this cell has been stepped."""
        return self._time_s

    # --- faults --------------------------------------------------------------------------
    def short(self) -> None:
        """Short the cell: terminal voltage near 0 V whatever the current."""
        self._fault = "short"

    def open(self) -> None:
        """Open the cell circuit: any forced current drives the voltage to the rails."""
        self._fault = "open"

    def reset_faults(self) -> None:
        self._fault = None

    @property
    def fault(self) -> str | None:
        """ "short", "open" or None."""
        return self._fault

    def _fault_voltage(self, current: float) -> float | None:
        if self._fault == "short":
            return current * self.params.short_ohm
        if self._fault == "open" and abs(current) > 1e-12:
            return math.copysign(self.params.rail_V, current)
        return None

    # --- the kind's physics (overridden) --------------------------------------------------
    def _settled_voltage(self, current: float) -> float:
        """Terminal voltage with the fast transients settled at this current."""
        raise NotImplementedError

    def _advance(self, dt: float, current: float) -> None:
        """Integrate the kind's slow state over dt at a constant current."""

    def _stepped_voltage(self, current: float) -> float:
        """Terminal voltage at the end of a step (by default the settled one)."""
        return self.voltage(current)

    def _impedance_at(self, freq: np.ndarray, dc_current_A: float) -> np.ndarray:
        raise NotImplementedError

    # --- voltage, stepping and impedance -------------------------------------------------
    def voltage(self, current_A: float) -> float:
        """Terminal voltage with `current_A` flowing at the present state, without advancing."""
        faulted = self._fault_voltage(current_A)
        if faulted is not None:
            return faulted
        return self._settled_voltage(0.0 if self._fault == "open" else current_A)

    def measured_voltage(self, current_A: float) -> float:
        """Terminal voltage plus Gaussian measurement noise (noise_V)."""
        return self.voltage(current_A) + self.params.noise_V * float(self._rng.standard_normal())

    def step(self, dt_s: float, current_A: float) -> float:
        """Advance dt_s at constant current (positive = charge); return the terminal voltage."""
        if not dt_s >= 0.0 or math.isinf(dt_s):
            raise SimulatorError(f"time step {dt_s} s must be a finite, non-negative number.")
        if not math.isfinite(current_A):
            raise SimulatorError(f"cell current {current_A} A is not a finite number.")
        if dt_s == 0.0:
            return self.voltage(current_A)
        faulted = self._fault_voltage(current_A)
        applied = current_A if self._fault is None else 0.0
        self._time_s += dt_s
        self._advance(dt_s, applied)
        if faulted is not None:
            return faulted
        return self._stepped_voltage(applied)

    def rest(self, dt_s: float) -> float:
        """Advance at zero current; returns the (relaxing) open-circuit voltage."""
        return self.step(dt_s, 0.0)

    def impedance(self, frequency_Hz: np.ndarray, dc_current_A: float = 0.0) -> np.ndarray:
        """Small-signal impedance at the present state, temperature and pressure."""
        freq = np.asarray(frequency_Hz, dtype=float)
        if freq.size == 0 or np.any(~np.isfinite(freq)) or np.any(freq <= 0.0):
            raise SimulatorError("impedance frequencies must be finite and positive.")
        if self._fault == "short":
            return np.full(freq.shape, complex(self.params.short_ohm))
        if self._fault == "open":
            return np.full(freq.shape, complex(1e12, -1e12))
        return self._impedance_at(freq, dc_current_A)

    def measured_impedance(self, frequency_Hz: np.ndarray, dc_current_A: float = 0.0) -> np.ndarray:
        """Impedance plus complex Gaussian noise of relative size eis_noise_rel."""
        z = self.impedance(frequency_Hz, dc_current_A)
        rel = self.params.eis_noise_rel
        noise = self._rng.standard_normal(z.shape) + 1j * self._rng.standard_normal(z.shape)
        return z + np.abs(z) * rel * noise / math.sqrt(2.0)
