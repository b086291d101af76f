"""Parameters of the electrolyte-only cells, each field with its unit and meaning.

Three kinds, named by a preset's `kind:` field:

- `blocking`: stainless steel | solid electrolyte | stainless steel (ionic conductivity);
- `li-blocking`: stainless steel | solid electrolyte | Li (electrochemical window by LSV);
- `symmetric-li`: Li | solid electrolyte | Li (Bruce–Vincent t+, plating/stripping).

They share the electrolyte's geometry, its Arrhenius conductivity and the stack-pressure
contact law; each kind adds its electrodes. Like `CellParameters`, `describe()` lists every
field for `cellbench sim presets NAME` and `with_overrides` returns a validated copy.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, ValidationError

from simulators.cell.params import DescribedParameters, _f, refuse_invalid
from simulators.errors import SimulatorError

EPSILON_0_F_CM = 8.8541878128e-14  # vacuum permittivity, F/cm
LI_CAPACITY_MAH_CM2_UM = 0.2061  # 3861 mAh/g x 0.534 g/cm³ = 2061 mAh/cm³, per µm of foil


class ElectrolyteParameters(DescribedParameters):
    """What every electrolyte-only cell has: the electrolyte layer and how it is measured."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # --- identity ------------------------------------------------------------------------
    name: str = _f("", "preset name")
    kind: str = _f("", "cell kind: blocking, li-blocking or symmetric-li")
    description: str = _f("", "what cell this is and which paper it follows", "")
    chemistry: str = _f("", "electrode | electrolyte | electrode")

    # --- electrolyte layer ---------------------------------------------------------------
    area_cm2: float = _f("cm²", "electrode (and electrolyte) area A", gt=0)
    thickness_um: float = _f("µm", "electrolyte thickness L", gt=0)
    sigma_mS_cm: float = _f(
        "mS/cm", "ionic conductivity σ at T_ref (bulk and grain boundary)", gt=0
    )
    Ea_sigma_kJ_mol: float = _f("kJ/mol", "Arrhenius activation energy of σ: σ ∝ exp(-Ea/RT)", ge=0)
    permittivity_r: float = _f(
        "-", "relative permittivity (geometric capacitance ε0·εr·A/L)", 30.0, gt=0
    )
    T_ref_degC: float = _f("°C", "reference temperature of all T-dependent values", 25.0)

    # --- stack pressure ------------------------------------------------------------------
    R_contact_ohm: float = _f(
        "Ω", "electrode contact resistance at the reference stack pressure", 0.0, ge=0
    )
    P_ref_MPa: float = _f("MPa", "reference stack pressure of R_contact", 0.0, ge=0)
    contact_P0_MPa: float = _f(
        "MPa", "pressure scale of the contact law R ∝ ((P_ref+P0)/(P+P0))^n", 1.0, gt=0
    )
    contact_exponent: float = _f("-", "exponent n of the contact law", 1.0, ge=0)

    # --- measurement and faults ----------------------------------------------------------
    noise_V: float = _f("V", "standard deviation of voltage measurement noise", 1.0e-5, ge=0)
    eis_noise_rel: float = _f("-", "relative standard deviation of impedance noise", 0.002, ge=0)
    rail_V: float = _f(
        "V", "terminal voltage magnitude when current is forced into an open cell", 10.0, gt=0
    )
    short_ohm: float = _f("Ω", "resistance of a shorted cell", 0.005, gt=0)

    # --- derived quantities --------------------------------------------------------------
    @property
    def bulk_resistance_ohm(self) -> float:
        """L/(σ·A) at T_ref."""
        return self.thickness_um * 1e-4 / (self.sigma_mS_cm * 1e-3 * self.area_cm2)

    @property
    def geometric_capacitance_F(self) -> float:
        return EPSILON_0_F_CM * self.permittivity_r * self.area_cm2 / (self.thickness_um * 1e-4)

    @property
    def nominal_capacity_mAh(self) -> float | None:
        """The charge 1C refers to: the Li inventory of a cell with Li, none for a blocking one."""
        li_um = getattr(self, "li_thickness_um", None)
        return None if li_um is None else li_um * LI_CAPACITY_MAH_CM2_UM * self.area_cm2

    def derived(self) -> dict[str, float | None]:
        """Numbers worth showing next to the parameters (`cellbench sim presets NAME`)."""
        return {
            "bulk_resistance_ohm": self.bulk_resistance_ohm,
            "geometric_capacitance_F": self.geometric_capacitance_F,
            "nominal_capacity_mAh": self.nominal_capacity_mAh,
        }

    # --- copies ----------------------------------------------------------------------------

    def with_overrides(self, overrides: dict[str, Any]) -> ElectrolyteParameters:
        """A validated copy with some parameters changed; unknown names are refused."""
        self._refuse_unknown(overrides)
        if "kind" in overrides and overrides["kind"] != self.kind:
            raise SimulatorError("the cell kind cannot be overridden; load another preset.")
        data = {**self.model_dump(), **overrides}
        return electrolyte_from_mapping(data, source=f"overrides of {self.name!r}")


class BlockingCellParameters(ElectrolyteParameters):
    """Stainless steel | electrolyte | stainless steel: ions are blocked at both electrodes."""

    kind: Literal["blocking"] = _f("", "cell kind", "blocking")
    chemistry: str = _f("", "electrode | electrolyte | electrode", "SS | electrolyte | SS")
    blocking_Q_F_cm2: float = _f(
        "F·s^(α-1)/cm²", "CPE magnitude of one blocking electrode per area", 1.0e-5, gt=0
    )
    blocking_alpha: float = _f("-", "CPE exponent of the blocking electrodes", 0.9, gt=0, le=1)
    sigma_e_S_cm: float = _f(
        "S/cm", "electronic conductivity of the electrolyte (the DC leak)", 1.0e-9, gt=0
    )


class LiBlockingCellParameters(ElectrolyteParameters):
    """Stainless steel | electrolyte | Li: the steel's potential vs Li is swept for the window."""

    kind: Literal["li-blocking"] = _f("", "cell kind", "li-blocking")
    chemistry: str = _f("", "electrode | electrolyte | electrode", "SS | electrolyte | Li")
    ocv_V: float = _f("V", "rest potential of the steel vs Li (mixed potential)", 3.0)
    blocking_Q_F_cm2: float = _f(
        "F·s^(α-1)/cm²", "CPE magnitude of the steel electrode per area", 1.0e-5, gt=0
    )
    blocking_alpha: float = _f("-", "CPE exponent of the steel electrode", 0.9, gt=0, le=1)
    sigma_e_S_cm: float = _f(
        "S/cm",
        "electronic conductivity of the electrolyte: the background current is linear around "
        "the rest potential with this leak",
        1.0e-9,
        gt=0,
    )
    oxidation_onset_V: float = _f(
        "V",
        "potential of the steel vs Li where the oxidation current density reaches "
        "oxidation_onset_mA_cm2 (a Tafel law beyond)",
        gt=0,
    )
    oxidation_onset_mA_cm2: float = _f(
        "mA/cm²", "current density that defines the oxidation onset", 0.01, gt=0
    )
    oxidation_tafel_mV_dec: float = _f(
        "mV/decade", "Tafel slope of the electrolyte's oxidation", 150.0, gt=0
    )
    Ea_oxidation_kJ_mol: float = _f("kJ/mol", "activation energy of the oxidation rate", 50.0, ge=0)
    plating_j0_mA_cm2: float = _f(
        "mA/cm²", "exchange current density of Li plating on the steel (below 0 V vs Li)", 0.1, gt=0
    )
    li_asr_ohm_cm2: float = _f("Ω·cm²", "Li | electrolyte interfacial resistance at T_ref", gt=0)
    li_C_F_cm2: float = _f("F/cm²", "Li | electrolyte interfacial capacitance", 2.0e-6, gt=0)
    Ea_li_kJ_mol: float = _f(
        "kJ/mol", "activation energy of the Li interface: 1/ASR ∝ exp(-Ea/RT)", 40.0, ge=0
    )
    li_thickness_um: float = _f("µm", "Li foil thickness (its capacity is the 1C basis)", gt=0)


class SymmetricLiCellParameters(ElectrolyteParameters):
    """Li | electrolyte | Li: transference number, interphase growth, plating and stripping."""

    kind: Literal["symmetric-li"] = _f("", "cell kind", "symmetric-li")
    chemistry: str = _f("", "electrode | electrolyte | electrode", "Li | electrolyte | Li")
    t_plus: float = _f("-", "Li+ transference number of the (binary) electrolyte", gt=0, le=1)
    salt_D_cm2_s: float = _f("cm²/s", "salt diffusion coefficient at T_ref", gt=0)
    Ea_D_kJ_mol: float = _f("kJ/mol", "activation energy of the salt diffusion", 20.0, ge=0)
    asr_initial_ohm_cm2: float = _f(
        "Ω·cm²", "interfacial resistance of one fresh Li electrode at T_ref", gt=0
    )
    asr_rise_ohm_cm2: float = _f(
        "Ω·cm²",
        "extra resistance of the interphase that grows while Li is plated and stripped",
        0.0,
        ge=0,
    )
    asr_final_ohm_cm2: float = _f(
        "Ω·cm²", "interfacial resistance of one electrode once the interphase has settled", gt=0
    )
    interphase_growth_mAh_cm2: float = _f(
        "mAh/cm²",
        "charge passed per area over which the interphase grows (Avrami, n = 2)",
        1.0,
        gt=0,
    )
    interphase_settle_mAh_cm2: float = _f(
        "mAh/cm²", "charge passed per area over which the interphase excess decays", 3.0, gt=0
    )
    C_int_F_cm2: float = _f("F/cm²", "Li | electrolyte interfacial capacitance", 2.0e-6, gt=0)
    Ea_interface_kJ_mol: float = _f(
        "kJ/mol", "activation energy of the interfaces: 1/ASR ∝ exp(-Ea/RT)", 40.0, ge=0
    )
    li_thickness_um: float = _f("µm", "thickness of each Li foil (the 1C basis)", gt=0)
    short_after_mAh_cm2: float | None = _f(
        "mAh/cm²",
        "charge passed per area at which a Li filament shorts the cell (none if empty)",
        None,
        gt=0,
    )
    diffusion_modes: int = _f(
        "-", "odd Fourier modes of the salt profile kept in the time domain", 40, ge=4, le=400
    )

    @property
    def diffusion_resistance_ohm(self) -> float:
        """Steady concentration-polarisation resistance R_b·(1 − t+)/t+ at T_ref."""
        return self.bulk_resistance_ohm * (1.0 - self.t_plus) / self.t_plus

    @property
    def diffusion_time_s(self) -> float:
        """L²/(π²·D): the slowest time constant of the salt profile at T_ref."""
        return (self.thickness_um * 1e-4) ** 2 / (math.pi**2 * self.salt_D_cm2_s)

    def derived(self) -> dict[str, float | None]:
        return {
            **super().derived(),
            "diffusion_resistance_ohm": self.diffusion_resistance_ohm,
            "diffusion_time_s": self.diffusion_time_s,
            "fresh_interface_ohm": 2.0 * self.asr_initial_ohm_cm2 / self.area_cm2,
            "settled_interface_ohm": 2.0 * self.asr_final_ohm_cm2 / self.area_cm2,
        }


ELECTROLYTE_KINDS: dict[str, type[ElectrolyteParameters]] = {
    "blocking": BlockingCellParameters,
    "li-blocking": LiBlockingCellParameters,
    "symmetric-li": SymmetricLiCellParameters,
}


def electrolyte_from_mapping(data: dict[str, Any], source: str) -> ElectrolyteParameters:
    """Validate a mapping with a `kind:` into its parameter model; errors are one sentence."""
    kind = data.get("kind")
    model = ELECTROLYTE_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise SimulatorError(
            f"{source}: unknown cell kind {kind!r}; kinds are: {', '.join(ELECTROLYTE_KINDS)} "
            "(or no kind for the NCM811 half cell)."
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        refuse_invalid(exc, model, source, f"{kind} cell")
