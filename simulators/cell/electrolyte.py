"""Electrolyte-only cells: the solid electrolyte between blocking or Li electrodes.

They expose the interface the instrument simulators and the bench use from `Cell` (step, rest,
voltage, instant_voltage, measured_voltage, current_at_voltage, impedance, measured_impedance,
set_temperature, set_pressure, faults, time_s, truth) so the same EmStat4 simulator drives them.

- `BlockingCell` (SS | SE | SS): the bulk resistance R_b = L/(σA) with σ Arrhenius in T, in
  parallel with the geometric capacitance ε0·εr·A/L and the electronic leak L/(σ_e·A), in
  series with the two blocking electrodes (CPEs) and the pressure-dependent contact resistance.
  Its spectrum is the high-frequency intercept R_b followed by the capacitive spike.
- `LiBlockingCell` (SS | SE | Li): the steel's potential E vs Li carries a background current
  linear around the rest potential, the electrolyte's oxidation (a Tafel law calibrated at the
  onset current density) and Li plating below 0 V; the Li counter electrode adds its
  Butler–Volmer overpotential and the bulk its ohmic drop. A linear sweep therefore shows the
  decomposition onset where the oxidation current density crosses the onset threshold.

Double-layer charging is taken as settled at every current (its time constants are far below a
sample interval), so `voltage(I)` is the quasi-steady terminal voltage and `current_at_voltage`
its exact inverse, which a potentiostat uses to hold or sweep a potential.
"""

from __future__ import annotations

import math
from typing import Any, Unpack

import numpy as np

from simulators.cell.conditions import CellConditions, CellStart, arrhenius_factor
from simulators.cell.electrolyte_params import (
    BlockingCellParameters,
    ElectrolyteParameters,
    LiBlockingCellParameters,
)
from simulators.errors import SimulatorError

LN10 = math.log(10.0)
PLATING_ALPHA = 0.5  # cathodic transfer coefficient of Li plating on the steel


def cpe_impedance(omega: np.ndarray, q: float, alpha: float) -> np.ndarray:
    """1/(Q·(jω)^α) of a constant-phase element."""
    return 1.0 / (q * (1j * omega) ** alpha)


def butler_volmer_eta(current: float, r_ct: float, f_over_rt: float) -> tuple[float, float]:
    """Symmetric (α = 0.5) Butler–Volmer overpotential η(I) and dη/dI for a small-signal Rct."""
    i0 = 1.0 / (f_over_rt * r_ct)
    s = current / (2.0 * i0)
    return 2.0 / f_over_rt * math.asinh(s), 1.0 / (f_over_rt * i0 * math.sqrt(1.0 + s * s))


class ElectrolyteCell(CellConditions):
    """What every electrolyte-only cell shares: the electrolyte's Arrhenius conductivity."""

    params: ElectrolyteParameters

    # --- conditions ----------------------------------------------------------------------
    def _set_conditions(self, temperature_degC: float, pressure_MPa: float) -> None:
        super()._set_conditions(temperature_degC, pressure_MPa)
        p = self.params
        self._sigma_S_cm = (
            p.sigma_mS_cm * 1e-3 * arrhenius_factor(p.Ea_sigma_kJ_mol, self._t_k, self._t_ref_k)
        )
        self._r_bulk = p.thickness_um * 1e-4 / (self._sigma_S_cm * p.area_cm2)
        self._update_conditions()

    def _update_conditions(self) -> None:
        """Recompute a kind's own temperature-dependent values (after T or P changed)."""

    def _arrhenius(self, ea_kj_mol: float) -> float:
        return arrhenius_factor(ea_kj_mol, self._t_k, self._t_ref_k)

    @property
    def soc(self) -> None:
        """An electrolyte cell has no state of charge."""
        return None

    @property
    def conductivity_S_cm(self) -> float:
        """Ionic conductivity at the present temperature."""
        return self._sigma_S_cm

    # --- the kind's physics (overridden) --------------------------------------------------
    def _current_for(self, voltage: float) -> float:
        raise NotImplementedError

    def _impedance(self, omega: np.ndarray, dc_current_A: float) -> np.ndarray:
        raise NotImplementedError

    # --- voltage and current ----------------------------------------------------------------
    def instant_voltage(self, current_A: float) -> float:
        """Terminal voltage the instant `current_A` starts (interfaces settle in microseconds)."""
        return self.voltage(current_A)

    def current_at_voltage(self, voltage_V: float) -> float:
        """The current that holds the terminal voltage at `voltage_V` (a potentiostat's)."""
        if not math.isfinite(voltage_V):
            raise SimulatorError(f"cell voltage {voltage_V} V is not a finite number.")
        if self._fault == "short":
            return voltage_V / self.params.short_ohm
        if self._fault == "open":
            return 0.0
        return float(self._current_for(float(voltage_V)))

    def _impedance_at(self, freq: np.ndarray, dc_current_A: float) -> np.ndarray:
        return self._impedance(2.0 * np.pi * freq, dc_current_A)

    def _bulk(self, omega: np.ndarray) -> np.ndarray:
        """R_b ‖ C_geo: the electrolyte's own arc (far above 1 MHz for a thick layer)."""
        c_geo = self.params.geometric_capacitance_F
        return self._r_bulk / (1.0 + 1j * omega * self._r_bulk * c_geo)

    # --- truth for analysis checks --------------------------------------------------------
    def truth(self) -> dict[str, Any]:
        """The true values an analysis must recover, at the present state, T and pressure."""
        p = self.params
        return {
            "kind": p.kind,
            "sigma_S_cm": self._sigma_S_cm,
            "sigma_mS_cm": self._sigma_S_cm * 1e3,
            "bulk_resistance_ohm": self._r_bulk,
            "R_contact_ohm": self._r_contact,
            "thickness_um": p.thickness_um,
            "area_cm2": p.area_cm2,
            "Ea_sigma_kJ_mol": p.Ea_sigma_kJ_mol,
            "Ea_sigma_eV": p.Ea_sigma_kJ_mol / 96.485,
            "temperature_degC": self._temperature_degC,
            "pressure_MPa": self._pressure_MPa,
        }


class BlockingCell(ElectrolyteCell):
    """SS | solid electrolyte | SS: for the ionic conductivity from the EIS intercept."""

    params: BlockingCellParameters

    def _update_conditions(self) -> None:
        p = self.params
        self._r_leak = p.thickness_um * 1e-4 / (p.sigma_e_S_cm * p.area_cm2)

    def _settled_voltage(self, current: float) -> float:
        # Ions are blocked: at DC only the electronic leak carries current.
        return current * (self._r_contact + self._r_leak)

    def _current_for(self, voltage: float) -> float:
        return voltage / (self._r_contact + self._r_leak)

    def _impedance(self, omega: np.ndarray, dc_current_A: float) -> np.ndarray:
        p = self.params
        blocking = 2.0 * cpe_impedance(omega, p.blocking_Q_F_cm2 * p.area_cm2, p.blocking_alpha)
        ionic = self._r_bulk + blocking
        y = 1j * omega * p.geometric_capacitance_F + 1.0 / self._r_leak + 1.0 / ionic
        return self._r_contact + 1.0 / y

    def truth(self) -> dict[str, Any]:
        return {**super().truth(), "leak_resistance_ohm": self._r_leak}


class LiBlockingCell(ElectrolyteCell):
    """SS | solid electrolyte | Li: for the electrochemical window by a linear sweep."""

    params: LiBlockingCellParameters

    def __init__(self, params: LiBlockingCellParameters, **start: Unpack[CellStart]) -> None:
        self._e_guess = params.ocv_V
        self._oxidation_C = 0.0
        super().__init__(params, **start)

    def _update_conditions(self) -> None:
        p = self.params
        area = p.area_cm2
        self._r_leak = p.thickness_um * 1e-4 / (p.sigma_e_S_cm * area)
        self._j_onset = p.oxidation_onset_mA_cm2 * 1e-3 * self._arrhenius(p.Ea_oxidation_kJ_mol)
        self._tafel_V = p.oxidation_tafel_mV_dec * 1e-3
        self._i_plating0 = p.plating_j0_mA_cm2 * 1e-3 * area
        self._r_li = p.li_asr_ohm_cm2 / area / self._arrhenius(p.Ea_li_kJ_mol)
        self._r_series = self._r_bulk + self._r_contact

    # --- the steel electrode: background, oxidation and plating currents -------------------
    def _oxidation(self, e: float) -> tuple[float, float]:
        """Oxidation current (A) of the electrolyte at the steel's potential e, and its slope."""
        x = min((e - self.params.oxidation_onset_V) / self._tafel_V, 300.0)
        i = self._j_onset * self.params.area_cm2 * math.exp(LN10 * x)
        return i, i * LN10 / self._tafel_V

    def _steel_current(self, e: float) -> tuple[float, float]:
        """Steady current through the steel at potential e vs Li, and dI/dE."""
        i_ox, d_ox = self._oxidation(e)
        i = (e - self.params.ocv_V) / self._r_leak + i_ox
        slope = 1.0 / self._r_leak + d_ox
        if e < 0.0:  # Li plates on the steel below 0 V vs Li
            k = PLATING_ALPHA * self._f_over_rt
            growth = math.exp(min(-k * e, 300.0))
            i -= self._i_plating0 * (growth - 1.0)
            slope += self._i_plating0 * k * growth
        return i, slope

    def _li_eta(self, current: float) -> tuple[float, float]:
        return butler_volmer_eta(current, self._r_li, self._f_over_rt)

    def _solve(self, residual: Any, guess: float) -> float:
        """Root of a monotonic increasing residual(e) -> (value, slope): Newton inside a
        bisection bracket, so the steep Tafel branch never throws it out."""
        lo, hi = -2.0, 12.0
        e = min(max(guess, lo), hi)
        for _ in range(200):
            value, slope = residual(e)
            if value > 0.0:
                hi = e
            else:
                lo = e
            step = value / slope if slope > 0.0 else math.inf
            nxt = e - step
            if not lo < nxt < hi:
                nxt = 0.5 * (lo + hi)
            if abs(nxt - e) < 1e-13 or hi - lo < 1e-13:
                return nxt
            e = nxt
        return e

    def _potential_for_current(self, current: float) -> float:
        def residual(e: float) -> tuple[float, float]:
            i, slope = self._steel_current(e)
            return i - current, slope

        e = self._solve(residual, self._e_guess)
        self._e_guess = e
        return e

    def _settled_voltage(self, current: float) -> float:
        e = self._potential_for_current(current)
        return e + current * self._r_series + self._li_eta(current)[0]

    def _current_for(self, voltage: float) -> float:
        def residual(e: float) -> tuple[float, float]:
            i, di = self._steel_current(e)
            eta, deta = self._li_eta(i)
            return e + i * self._r_series + eta - voltage, 1.0 + (self._r_series + deta) * di

        e = self._solve(residual, self._e_guess)
        self._e_guess = e
        return self._steel_current(e)[0]

    def _advance(self, dt: float, current: float) -> None:
        if current > 0.0:
            e = self._potential_for_current(current)
            self._oxidation_C += min(current, self._oxidation(e)[0]) * dt

    def _impedance(self, omega: np.ndarray, dc_current_A: float) -> np.ndarray:
        p = self.params
        e = self._potential_for_current(dc_current_A)
        _, di_de = self._steel_current(e)
        steel_y = 1.0 / cpe_impedance(omega, p.blocking_Q_F_cm2 * p.area_cm2, p.blocking_alpha)
        steel = 1.0 / (steel_y + di_de)
        _, r_li = self._li_eta(dc_current_A)
        li = r_li / (1.0 + 1j * omega * r_li * p.li_C_F_cm2 * p.area_cm2)
        return self._r_contact + self._bulk(omega) + steel + li

    def truth(self) -> dict[str, Any]:
        p = self.params
        return {
            **super().truth(),
            "rest_potential_V": float(self._potential_for_current(0.0)),
            # where the oxidation current density reaches the onset threshold at this T
            "oxidation_onset_V": p.oxidation_onset_V
            - self._tafel_V * math.log10(self._arrhenius(p.Ea_oxidation_kJ_mol)),
            "oxidation_onset_mA_cm2": p.oxidation_onset_mA_cm2,
            "oxidation_charge_C": float(self._oxidation_C),
            "li_interface_ohm": self._r_li,
            "leak_resistance_ohm": self._r_leak,
        }
