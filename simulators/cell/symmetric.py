"""Li | solid electrolyte | Li: transference number, interphase growth and plating/stripping.

Terminal voltage (positive current = charge: Li stripped from one electrode, plated on the
other):

    V = I·(R_b + R_contact) + 2·η_int(I) + η_c

- R_b = L/(σA), σ Arrhenius in T.
- η_int is each Li | electrolyte interface's Butler–Volmer overpotential (α = 0.5) for an
  area-specific resistance ASR(Q) that evolves with the charge Q passed per area: an interphase
  grows (Avrami, n = 2, over Q_g) and its excess then decays (over Q_s) to the settled value,

      ASR(Q) = ASR_f + (ASR_0 − ASR_f + ΔASR·(1 − exp(−(Q/Q_g)²)))·exp(−Q/Q_s),

  so the overpotential of a long plating/stripping test first rises, then falls and settles.
- η_c is the concentration polarisation of a binary electrolyte with transference number t+:
  the salt profile between the electrodes, expanded in its odd cosine modes n = 1, 3, 5, …
  with weights 8/(π²n²) and time constants τ/n², τ = L²/(π²D). Each mode relaxes exactly
  toward w_n·R_d·I with R_d = R_b·(1 − t+)/t+, so under a potential step ΔV the current falls
  from I0 = ΔV/(R_b + R_int) to I_ss = ΔV/(R_int + R_b/t+), the ideal Bruce–Vincent relation.
  This is the linear (small-signal) regime, valid well below the limiting current.
The impedance is the same linearisation: R_b‖C_geo, two R_int‖C_int arcs (one arc, as the
electrodes are alike) and the finite-length diffusion impedance
R_d·tanh(√(jωL²/4D))/√(jωL²/4D), the sum of the same modes.
"""

from __future__ import annotations

import math
from typing import Any, Unpack

import numpy as np

from simulators.cell.conditions import CellStart
from simulators.cell.electrolyte import ElectrolyteCell, butler_volmer_eta
from simulators.cell.electrolyte_params import SymmetricLiCellParameters

MAH_PER_AS = 1.0 / 3.6  # 1 A·s = 1/3.6 mAh


def finite_diffusion_shape(s: np.ndarray) -> np.ndarray:
    """tanh(s)/s, with its series at small |s| and the limit 1/s at large Re(s)."""
    s = np.asarray(s, dtype=complex)
    out = np.empty_like(s)
    small = np.abs(s) < 1e-3
    out[small] = 1.0 - s[small] ** 2 / 3.0
    big = ~small & (s.real > 20.0)
    out[big] = 1.0 / s[big]
    rest = ~small & ~big
    out[rest] = np.tanh(s[rest]) / s[rest]
    return out


class SymmetricLiCell(ElectrolyteCell):
    """Li | solid electrolyte | Li."""

    params: SymmetricLiCellParameters

    def __init__(self, params: SymmetricLiCellParameters, **start: Unpack[CellStart]) -> None:
        n = np.arange(1, 2 * params.diffusion_modes, 2, dtype=float)
        weights = 8.0 / (math.pi**2 * n**2)
        self._mode_n2 = n**2
        self._weights = weights / weights.sum()  # the truncated sum still reaches R_d at DC
        self._modes = np.zeros_like(n)
        self._decay: dict[float, np.ndarray] = {}
        self._charge_mAh_cm2 = 0.0
        self._asr = params.asr_initial_ohm_cm2
        super().__init__(params, **start)

    # --- conditions and interphase --------------------------------------------------------
    def _update_conditions(self) -> None:
        p = self.params
        self._r_series = self._r_bulk + self._r_contact
        self._r_diffusion = self._r_bulk * (1.0 - p.t_plus) / p.t_plus
        self._D = p.salt_D_cm2_s * self._arrhenius(p.Ea_D_kJ_mol)
        length = p.thickness_um * 1e-4
        self._tau = length**2 / (math.pi**2 * self._D)
        self._tau_warburg = length**2 / (4.0 * self._D)
        self._interface_factor = 1.0 / self._arrhenius(p.Ea_interface_kJ_mol)
        self._decay.clear()

    def interface_asr(self, charge_mAh_cm2: float) -> float:
        """ASR (Ω·cm²) of one interface at T_ref after `charge_mAh_cm2` passed per area."""
        p = self.params
        q = max(charge_mAh_cm2, 0.0)
        grown = p.asr_rise_ohm_cm2 * (1.0 - math.exp(-((q / p.interphase_growth_mAh_cm2) ** 2)))
        excess = p.asr_initial_ohm_cm2 - p.asr_final_ohm_cm2 + grown
        return p.asr_final_ohm_cm2 + excess * math.exp(-q / p.interphase_settle_mAh_cm2)

    def _r_interface(self) -> float:
        """Small-signal resistance of one interface now (Ω)."""
        return self._asr * self._interface_factor / self.params.area_cm2

    def _eta_int(self, current: float) -> tuple[float, float]:
        """Overpotential of both interfaces together and its slope."""
        eta, slope = butler_volmer_eta(current, self._r_interface(), self._f_over_rt)
        return 2.0 * eta, 2.0 * slope

    @property
    def concentration_overpotential_V(self) -> float:
        return float(self._modes.sum())

    @property
    def charge_passed_mAh_cm2(self) -> float:
        return self._charge_mAh_cm2

    # --- voltage and current ----------------------------------------------------------------
    def _settled_voltage(self, current: float) -> float:
        return current * self._r_series + self._eta_int(current)[0] + self._modes.sum()

    def _current_for(self, voltage: float) -> float:
        drive = voltage - float(self._modes.sum())
        current = drive / (self._r_series + 2.0 * self._r_interface())
        for _ in range(60):
            eta, slope = self._eta_int(current)
            residual = current * self._r_series + eta - drive
            nxt = current - residual / (self._r_series + slope)
            if abs(nxt - current) <= 1e-15 + 1e-12 * abs(nxt):
                return nxt
            current = nxt
        return current

    def _advance(self, dt: float, current: float) -> None:
        decay = self._decay.get(dt)
        if decay is None:
            decay = np.exp(-dt * self._mode_n2 / self._tau)
            if len(self._decay) < 64:
                self._decay[dt] = decay
        target = self._weights * (self._r_diffusion * current)
        self._modes = target + (self._modes - target) * decay
        before = self._charge_mAh_cm2
        self._charge_mAh_cm2 += abs(current) * dt * MAH_PER_AS / self.params.area_cm2
        self._asr = self.interface_asr(self._charge_mAh_cm2)
        limit = self.params.short_after_mAh_cm2
        if limit is not None and before < limit <= self._charge_mAh_cm2:
            self._fault = "short"  # a Li filament bridges the electrolyte

    # --- impedance -----------------------------------------------------------------------
    def _impedance(self, omega: np.ndarray, dc_current_A: float) -> np.ndarray:
        p = self.params
        _, r_int = self._eta_int(dc_current_A)  # both interfaces, differential
        c_one = p.C_int_F_cm2 * p.area_cm2
        interfaces = r_int / (1.0 + 1j * omega * (r_int / 2.0) * c_one)
        s = np.sqrt(1j * omega * self._tau_warburg)
        diffusion = self._r_diffusion * finite_diffusion_shape(s)
        return self._r_contact + self._bulk(omega) + interfaces + diffusion

    # --- truth for analysis checks --------------------------------------------------------
    def bruce_vincent_currents(self, delta_V: float) -> tuple[float, float]:
        """(I0, I_ss) the ideal relation predicts for a small step ΔV at the present state."""
        r_int = 2.0 * self._r_interface()
        i0 = delta_V / (self._r_series + r_int)
        iss = delta_V / (r_int + self._r_contact + self._r_bulk / self.params.t_plus)
        return i0, iss

    def settling_time_h(self, j_mA_cm2: float, tolerance: float = 0.1) -> float:
        """Hours of plating/stripping at |j| after which the mid-plateau overpotential stays
        within `tolerance` of its settled value (the Li‖Li analysis's criterion)."""
        area = self.params.area_cm2
        current = j_mA_cm2 * 1e-3 * area
        ohmic = current * (self._r_series + self._r_diffusion)

        def plateau(asr: float) -> float:
            r_one = asr * self._interface_factor / area
            return ohmic + 2.0 * butler_volmer_eta(current, r_one, self._f_over_rt)[0]

        final = plateau(self.params.asr_final_ohm_cm2)
        hours = np.linspace(0.0, 5000.0, 50001)
        charge = hours * j_mA_cm2
        off = np.array([abs(plateau(self.interface_asr(q)) - final) for q in charge])
        outside = np.flatnonzero(off > tolerance * final)
        return float(hours[outside[-1] + 1]) if outside.size else 0.0

    def truth(self) -> dict[str, Any]:
        p = self.params
        r_int = 2.0 * self._r_interface()
        return {
            **super().truth(),
            "t_plus": p.t_plus,
            "salt_D_cm2_s": self._D,
            "diffusion_time_s": self._tau,
            "diffusion_resistance_ohm": self._r_diffusion,
            "interface_ohm": r_int,
            "interface_asr_ohm_cm2": self._asr * self._interface_factor,
            "charge_passed_mAh_cm2": self._charge_mAh_cm2,
        }
