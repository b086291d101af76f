"""The simulated cell: a single-particle NCM811 cathode against Li metal.

Terminal voltage (positive current = charge = delithiation of the cathode):

    V = U(θ_surface) + I·(Rs + R_contact) + η_film + η_ct + η_electrolyte

- θ follows spherical diffusion in a sphere of radius 3L (V/S = L, the diffusion length that the
  preset's D refers to), integrated exactly per step (see `diffusion.py`).
- η_film relaxes as an R_film‖C_film element; η_ct relaxes toward the Butler-Volmer overpotential
  with time constant C_dl·dη/dI. Both updates are exact exponentials for constant current.
- η_electrolyte is the thick-electrode limit of the review's Eq. 2: a salt-depletion state q that
  builds up while |I| exceeds the electrode's limiting current and relaxes below it, over the
  electrolyte's diffusion time across the electrode; the overpotential diverges as q approaches
  Q_eff = Q0·I_lim/|I|. The limiting current is the porous electrode's,
  I_lim = 2·A·ε/(h·τ)·D0·C0·F/(1-t+): with the reaction spread through the thickness h the salt
  profile is parabolic, with half the drop of the planar Eq. 2 form, so twice its current. The
  time is τ_e = h²·τ/D0: D_eff = ε·D0/τ acting on a pore volume ε, so porosity counts once.
- Rct, Rs, R_film, D and D0 follow Arrhenius laws around T_ref; R_contact falls with stack
  pressure; R_film and Rct grow and capacity fades per equivalent full cycle.
The impedance is the small-signal linearisation of the same elements (see `impedance.py`).
"""

from __future__ import annotations

import math
from typing import Unpack

import numpy as np

from simulators.cell.conditions import (
    FARADAY,
    CellConditions,
    CellStart,
    arrhenius_factor,
)
from simulators.cell.diffusion import SphericalDiffusion
from simulators.cell.impedance import cell_impedance
from simulators.cell.ocv import OCVCurve
from simulators.cell.params import CellParameters
from simulators.errors import SimulatorError

POROUS_FACTOR = 2.0  # a porous electrode's limiting current over the planar Eq. 2 form
DEPLETION_KNEE = 0.99  # beyond this fraction of Q_eff the depletion overpotential goes linear
DEPLETION_WALL_V = 40.0  # V per unit of Q_eff beyond the knee: the electrolyte is exhausted
FORMATION_DONE_FRACTION = 0.05  # a discharge after this much charge ends the first charge


class Cell(CellConditions):
    """A simulated Li | NCM811 half cell, stepped at constant current."""

    params: CellParameters

    def __init__(
        self,
        params: CellParameters,
        *,
        soc: float | None = None,
        **conditions: Unpack[CellStart],
    ) -> None:
        self._ocv = OCVCurve(params.v_min, params.v_max, params.ocv_points)
        self._diffusion = SphericalDiffusion()
        self._q0_c = params.capacity_Ah * 3600.0
        self._radius_cm = params.particle_radius_um * 1e-4
        self._throughput_c = 0.0
        self._eta_film = 0.0
        self._eta_ct = 0.0
        self._depletion_c = 0.0
        self._first_charge_c = 0.0
        self._first_charge_done = False
        self._side_c = 0.0
        self._last_u = 0.0
        self._last_theta_s = 0.0
        super().__init__(params, **conditions)
        start = params.initial_soc if soc is None else soc
        if not 0.0 <= start <= 1.0:
            raise SimulatorError(f"initial SOC {start} is outside 0..1.")
        self._diffusion.set_uniform(start)
        if start > 0.5:  # a cell handed over charged has already been through formation
            self._first_charge_done = True

    # --- conditions ----------------------------------------------------------------------
    def _set_conditions(self, temperature_degC: float, pressure_MPa: float) -> None:
        super()._set_conditions(temperature_degC, pressure_MPa)
        p = self.params
        t_k = self._t_k
        ref = self._t_ref_k
        self._D = p.D_cm2_s * arrhenius_factor(p.Ea_D_kJ_mol, t_k, ref)
        self._diffusion.set_rate(self._D / self._radius_cm**2)
        self._rs = p.Rs_ohm / arrhenius_factor(p.Ea_Rs_kJ_mol, t_k, ref)
        self._r_film_t = p.R_film_ohm / arrhenius_factor(p.Ea_film_kJ_mol, t_k, ref)
        self._rct_t = p.Rct_ohm / arrhenius_factor(p.Ea_ct_kJ_mol, t_k, ref)
        if p.P_ref_MPa > 0.0 and p.contact_capacity_loss > 0.0:
            shortfall = 1.0 - min(pressure_MPa, p.P_ref_MPa) / p.P_ref_MPa
            self._pressure_capacity = 1.0 - p.contact_capacity_loss * shortfall**2
        else:
            self._pressure_capacity = 1.0
        d0 = p.electrolyte_D0_cm2_s * arrhenius_factor(p.electrolyte_Ea_kJ_mol, t_k, ref)
        h_cm = p.thickness_um * 1e-4
        if p.electrolyte_t_plus >= 1.0:
            self._i_lim = math.inf
        else:
            self._i_lim = (
                POROUS_FACTOR
                * p.area_cm2
                * p.porosity
                / (h_cm * p.tortuosity)
                * d0
                * (p.electrolyte_C0_mol_L / 1000.0)
                * FARADAY
                / (1.0 - p.electrolyte_t_plus)
            )
        self._tau_e = h_cm**2 * p.tortuosity / d0
        self._depletion_beta = 2.0 * (1.0 - p.electrolyte_t_plus)
        x_mid = 0.5 * (p.li_fraction_discharged + p.li_fraction_charged)
        self._i0_norm = math.sqrt(x_mid * (1.0 - x_mid))
        self._side_a = p.first_charge_side_current_mA_g * p.active_mass_g / 1000.0

    # --- state -----------------------------------------------------------------------------
    @property
    def cycle_count(self) -> float:
        """Equivalent full cycles done: charge throughput / (2 x fresh capacity)."""
        return self._throughput_c / (2.0 * self._q0_c)

    @property
    def capacity_Ah(self) -> float:
        """Usable capacity at low rate now (after fade, at the present stack pressure)."""
        return self._capacity_c() / 3600.0

    def _capacity_c(self) -> float:
        faded = max(0.05, 1.0 - self.params.fade_per_cycle * self.cycle_count)
        return self._q0_c * faded * self._pressure_capacity

    @property
    def one_c_A(self) -> float:
        """1C on the preset's basis (c_rate_basis_mAh_g x active mass)."""
        return self.params.one_c_A

    @property
    def soc(self) -> float:
        """Mean delithiation fraction: 0 = discharged (lithiated), 1 = charged."""
        return self._diffusion.mean

    @property
    def surface_soc(self) -> float:
        """SOC at the particle surface at rest (what the OCV at the surface sees)."""
        return self._diffusion.surface(0.0)

    def set_soc(self, soc: float) -> None:
        """Equilibrate the cell at a given SOC (as after a long rest)."""
        if not -0.05 <= soc <= 1.05:
            raise SimulatorError(f"SOC {soc} is outside 0..1.")
        self._diffusion.set_uniform(soc)
        self._eta_film = self._eta_ct = self._depletion_c = 0.0

    def ocv(self) -> float:
        """Equilibrium open-circuit voltage at the present mean SOC (fully relaxed)."""
        return self._ocv(self._diffusion.mean)

    # --- kinetics ------------------------------------------------------------------------
    def _growth(self) -> float:
        return 1.0 + self.params.resistance_growth_per_cycle * self.cycle_count

    def _rct(self, theta_s: float) -> float:
        """Small-signal charge-transfer resistance at a surface SOC (i0 ∝ √(x(1-x)))."""
        p = self.params
        x = p.li_fraction_discharged - theta_s * (p.li_fraction_discharged - p.li_fraction_charged)
        x = min(max(x, 1e-3), 1.0 - 1e-3)
        return self._rct_t * self._growth() * self._i0_norm / math.sqrt(x * (1.0 - x))

    def _butler_volmer(self, current: float, rct: float) -> tuple[float, float]:
        """Steady overpotential η(I) and its slope dη/dI for an exchange current RT/(F·Rct)."""
        f = self._f_over_rt
        i0 = 1.0 / (f * rct)
        alpha = self.params.alpha_ct
        if alpha == 0.5:
            s = current / (2.0 * i0)
            eta = 2.0 / f * math.asinh(s)
            return eta, 1.0 / (f * i0 * math.sqrt(1.0 + s * s))
        eta = 2.0 / f * math.asinh(current / (2.0 * i0))
        for _ in range(30):
            ea, ec = math.exp(alpha * f * eta), math.exp(-(1.0 - alpha) * f * eta)
            residual = i0 * (ea - ec) - current
            slope = i0 * f * (alpha * ea + (1.0 - alpha) * ec)
            eta -= residual / slope
            if abs(residual) <= 1e-12 + 1e-9 * abs(current):
                break
        ea, ec = math.exp(alpha * f * eta), math.exp(-(1.0 - alpha) * f * eta)
        return eta, 1.0 / (i0 * f * (alpha * ea + (1.0 - alpha) * ec))

    def _depletion_eta(self, current: float) -> float:
        """Eq. 2 overpotential: diverges as the depletion state nears Q_eff = Q0·I_lim/|I|."""
        if current == 0.0 or self._depletion_c == 0.0 or math.isinf(self._i_lim):
            return 0.0
        along = self._depletion_c if current > 0.0 else -self._depletion_c
        if along <= 0.0:
            return 0.0
        ratio = along * abs(current) / (self._q0_c * self._i_lim)
        scale = self._depletion_beta / self._f_over_rt
        if ratio < DEPLETION_KNEE:
            eta = -scale * math.log(1.0 - ratio)
        else:
            eta = -scale * math.log(1.0 - DEPLETION_KNEE) + DEPLETION_WALL_V * (
                ratio - DEPLETION_KNEE
            )
        return eta if current > 0.0 else -eta

    def _side_current(self, current: float) -> float:
        """Parasitic current of the first charge (it carries charge but no lithium)."""
        if self._first_charge_done or current <= 0.0 or self._side_a == 0.0:
            return 0.0
        return min(current, self._side_a)

    # --- voltage -------------------------------------------------------------------------
    def _terminal(self, current: float, u: float, theta_s: float | None = None) -> float:
        if theta_s is None:
            theta_s = self._diffusion.surface(u)
        return (
            self._ocv(theta_s)
            + current * (self._rs + self._r_contact)
            + self._eta_film
            + self._eta_ct
            + self._depletion_eta(current)
        )

    def _settled_voltage(self, current: float) -> float:
        """Terminal voltage with `current` flowing at the present state, without advancing.

        The film and double-layer transients (time constants of micro- to milliseconds) are
        taken as settled at this current, while SOC, the diffusion profile and electrolyte
        depletion stay as they are. That makes V(I) a steep, monotonic function that a
        potentiostatic controller can solve for the current holding a set voltage; `step`
        returns the exactly integrated voltage, transients included.
        """
        intercalation = current - self._side_current(current)
        theta_s = self._diffusion.surface(intercalation / self._capacity_c())
        eta_ct, _ = self._butler_volmer(current, self._rct(theta_s))
        return (
            self._ocv(theta_s)
            + current * (self._rs + self._r_contact + self._r_film_t * self._growth())
            + eta_ct
            + self._depletion_eta(current)
        )

    def instant_voltage(self, current_A: float) -> float:
        """Terminal voltage the instant `current_A` starts: only the ohmic part has jumped."""
        faulted = self._fault_voltage(current_A)
        if faulted is not None:
            return faulted
        if self._fault == "open":
            current_A = 0.0
        intercalation = current_A - self._side_current(current_A)
        return self._terminal(current_A, intercalation / self._capacity_c())

    def _stepped_voltage(self, current: float) -> float:
        """The exactly integrated voltage of the step just taken, transients included."""
        return self._terminal(current, self._last_u, self._last_theta_s)

    def _advance(self, dt: float, current: float) -> None:
        side = self._side_current(current)
        if side > 0.0:
            self._side_c += side * dt
        if current > 0.0 and not self._first_charge_done:
            self._first_charge_c += current * dt
        elif current < 0.0 and self._first_charge_c > FORMATION_DONE_FRACTION * self._q0_c:
            self._first_charge_done = True
        intercalation = current - side
        u = intercalation / self._capacity_c()
        self._diffusion.step(dt, u)
        self._last_u = u
        self._throughput_c += abs(current) * dt
        theta_s = self._last_theta_s = self._diffusion.surface(u)

        # interphase film: R_film ‖ C_film
        r_film = self._r_film_t * self._growth()
        if r_film > 0.0:
            target = current * r_film
            decay = math.exp(-dt / (r_film * self.params.C_film_F))
            self._eta_film = target + (self._eta_film - target) * decay
        else:
            self._eta_film = 0.0

        # charge transfer: Butler-Volmer relaxed through the double layer
        eta_ss, slope = self._butler_volmer(current, self._rct(theta_s))
        decay = math.exp(-dt / (self.params.C_dl_F * slope))
        self._eta_ct = eta_ss + (self._eta_ct - eta_ss) * decay

        # Eq. 2 salt depletion across a thick electrode
        if not math.isinf(self._i_lim):
            relax = max(0.0, 1.0 - abs(current) / self._i_lim) / self._tau_e
            if relax > 0.0:
                steady = current / relax
                self._depletion_c = steady + (self._depletion_c - steady) * math.exp(-relax * dt)
            else:
                self._depletion_c += current * dt

    # --- impedance -----------------------------------------------------------------------
    def _impedance_at(self, freq: np.ndarray, dc_current_A: float) -> np.ndarray:
        u = dc_current_A / self._capacity_c()
        theta_s = self._diffusion.surface(u)
        _, rct = self._butler_volmer(dc_current_A, self._rct(theta_s))
        return cell_impedance(
            freq,
            r_series=self._rs + self._r_contact,
            r_film=self._r_film_t * self._growth(),
            c_film=self.params.C_film_F,
            r_ct=rct,
            c_dl=self.params.C_dl_F,
            ocv_slope=self._ocv.slope(theta_s),
            capacity_c=self._capacity_c(),
            radius_cm=self._radius_cm,
            d_cm2_s=self._D,
        )

    # --- truth for analysis checks --------------------------------------------------------
    def truth(self) -> dict[str, float]:
        """The true values an analysis must recover, at the present state, T and pressure."""
        p = self.params
        theta_s = self._diffusion.surface(0.0)
        return {
            "D_cm2_s": self._D,
            "diffusion_length_um": p.diffusion_length_um,
            "particle_radius_um": p.particle_radius_um,
            "L2_over_D_s": (p.diffusion_length_um * 1e-4) ** 2 / self._D,
            "Ea_ct_kJ_mol": p.Ea_ct_kJ_mol,
            "Ea_D_kJ_mol": p.Ea_D_kJ_mol,
            "Rct_ohm": self._rct(theta_s),
            "Rs_ohm": self._rs,
            "R_contact_ohm": self._r_contact,
            "R_film_ohm": self._r_film_t * self._growth(),
            "C_dl_F": p.C_dl_F,
            "C_film_F": p.C_film_F,
            "capacity_Ah": self.capacity_Ah,
            "one_c_A": self.one_c_A,
            "limiting_current_A": self._i_lim,
            "electrolyte_time_constant_s": self._tau_e,
            "temperature_degC": self._temperature_degC,
            "pressure_MPa": self._pressure_MPa,
            "soc": self.soc,
            "cycle_count": self.cycle_count,
        }
