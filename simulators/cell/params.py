"""Cell parameters: every number the cell model uses, each with its unit and meaning.

A preset file is a YAML mapping of these names. `CellParameters.describe()` lists them for
`cellbench sim presets NAME`; `with_overrides` returns a validated copy for what-if runs.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulators.errors import SimulatorError

DEFAULT_D_CONVENTION = (
    "Weppner-Huggins with electrode-level geometry: L = V/S, the active-material volume per "
    "geometric electrode area (L = active loading / material density). The model particle is a "
    "sphere of radius R = 3L (so V/S = L) with this D; a real r = 5 um particle would need "
    "D_particle = D * (r / (3 L))^2."
)


def _f(unit: str, meaning: str, default: Any = ..., **limits: Any) -> Any:
    """A field with its unit and one-line meaning, both readable from the schema."""
    return Field(default, description=meaning, json_schema_extra={"unit": unit}, **limits)


class DescribedParameters(BaseModel):
    """Simulator parameters whose fields carry a unit and a meaning (see `_f`)."""

    @classmethod
    def units(cls) -> dict[str, str]:
        """Unit of every field ("" for text and dimensionless names)."""
        return {
            name: str((field.json_schema_extra or {}).get("unit", ""))  # type: ignore[union-attr]
            for name, field in cls.model_fields.items()
        }

    def describe(self) -> list[dict[str, Any]]:
        """Every parameter as {name, value, unit, meaning}, in declaration order."""
        units = self.units()
        return [
            {
                "name": name,
                "value": getattr(self, name),
                "unit": units[name],
                "meaning": field.description or "",
            }
            for name, field in type(self).model_fields.items()
        ]

    def _refuse_unknown(self, overrides: dict[str, Any]) -> None:
        """An override must name one of this model's parameters."""
        valid = list(type(self).model_fields)
        unknown = [key for key in overrides if key not in valid]
        if unknown:
            raise SimulatorError(
                f"unknown cell parameter {unknown[0]!r}; valid parameters are: {', '.join(valid)}."
            )


def refuse_invalid(
    exc: ValidationError, model: type[BaseModel], source: str, what: str
) -> NoReturn:
    """Raise the first of a model's validation errors as one SimulatorError sentence.

    `what` names the parameters in the sentence ("cell", "blocking cell").
    """
    errors = exc.errors()
    unknown = [e for e in errors if e.get("type") == "extra_forbidden"]
    first = unknown[0] if unknown else errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "parameters"
    if first.get("type") == "extra_forbidden":
        valid = ", ".join(model.model_fields)
        raise SimulatorError(
            f"{source}: unknown {what} parameter {where!r}; valid parameters are: {valid}."
        ) from None
    if first.get("type") == "missing":
        raise SimulatorError(f"{source}: required {what} parameter {where!r} is missing.") from None
    raise SimulatorError(f"{source}: {where}: {first.get('msg', 'invalid value')}.") from None


class CellParameters(DescribedParameters):
    """Physical parameters of one simulated Li | NCM811 half cell."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # --- identity ------------------------------------------------------------------------
    name: str = _f("", "preset name")
    description: str = _f("", "what cell this is and which paper it follows", "")
    chemistry: str = _f("", "electrode pair", "NCM811 | Li metal")

    # --- geometry and capacity -----------------------------------------------------------
    area_cm2: float = _f("cm²", "geometric cathode area", gt=0)
    loading_mg_cm2: float = _f("mg/cm²", "active-material mass loading of the cathode", gt=0)
    active_mass_g: float = _f("g", "active-material mass (loading x area if not given)", None, gt=0)
    thickness_um: float = _f("µm", "cathode coating thickness h (Eq. 2)", gt=0)
    specific_capacity_mAh_g: float = _f(
        "mAh/g", "usable capacity in the voltage window at low rate and T_ref", gt=0, le=300
    )
    c_rate_basis_mAh_g: float = _f("mAh/g", "specific capacity that defines 1C", 200.0, gt=0)
    v_min: float = _f("V", "lower end of the OCV window (SOC 0, fully lithiated)", 3.0, gt=0)
    v_max: float = _f("V", "upper end of the OCV window (SOC 1, charged)", 4.3, gt=0)
    ocv_points: list[tuple[float, float]] | None = _f(
        "[-, V]",
        "optional interior OCV table as [soc, volts] pairs (built-in NCM811 if absent)",
        None,
    )

    # --- solid-state diffusion ----------------------------------------------------------
    D_cm2_s: float = _f(
        "cm²/s", "chemical diffusion coefficient of Li in the cathode at T_ref", gt=0
    )
    diffusion_length_um: float = _f(
        "µm", "diffusion length L = V/S that D refers to (model sphere radius is 3L)", gt=0
    )
    D_convention: str = _f("", "how D and L are defined", DEFAULT_D_CONVENTION)
    Ea_D_kJ_mol: float = _f("kJ/mol", "Arrhenius activation energy of D", 30.0, ge=0)

    # --- resistances and capacitances ---------------------------------------------------
    Rs_ohm: float = _f("Ω", "ohmic (electrolyte, separator, contacts) resistance at T_ref", ge=0)
    Ea_Rs_kJ_mol: float = _f("kJ/mol", "Arrhenius activation energy of Rs", 12.0, ge=0)
    R_film_ohm: float = _f("Ω", "interphase (CEI/film) resistance at T_ref", ge=0)
    C_film_F: float = _f("F", "interphase (film) capacitance", gt=0)
    Ea_film_kJ_mol: float = _f(
        "kJ/mol", "Arrhenius activation energy of the film resistance", 20.0, ge=0
    )
    Rct_ohm: float = _f("Ω", "charge-transfer resistance at T_ref and SOC 0.5", gt=0)
    Ea_ct_kJ_mol: float = _f(
        "kJ/mol", "activation energy of charge transfer: 1/Rct ∝ exp(-Ea/RT)", ge=0
    )
    alpha_ct: float = _f("-", "Butler-Volmer anodic transfer coefficient", 0.5, gt=0, lt=1)
    C_dl_F: float = _f("F", "double-layer capacitance of the cathode", gt=0)
    li_fraction_discharged: float = _f(
        "-",
        "Li fraction of the NCM lattice at SOC 0 (sets how i0 varies with SOC)",
        0.97,
        gt=0,
        lt=1,
    )
    li_fraction_charged: float = _f(
        "-", "Li fraction of the NCM lattice at SOC 1", 0.22, gt=0, lt=1
    )
    T_ref_degC: float = _f("°C", "reference temperature of all T-dependent values", 25.0)

    # --- thick-electrode electrolyte transport (review Eq. 2) --------------------------
    porosity: float = _f("-", "electrolyte volume fraction ε of the cathode", 0.3, gt=0, lt=1)
    tortuosity: float = _f("-", "tortuosity τ of the cathode's ion paths", 3.0, ge=1)
    electrolyte_D0_cm2_s: float = _f(
        "cm²/s", "salt diffusion coefficient D0 at T_ref", 3.0e-6, gt=0
    )
    electrolyte_C0_mol_L: float = _f("mol/L", "salt concentration C0", 1.0, gt=0)
    electrolyte_t_plus: float = _f(
        "-",
        "Li+ transference number t+ (1 = single-ion conductor: no Eq. 2 limit)",
        0.38,
        gt=0,
        le=1,
    )
    electrolyte_Ea_kJ_mol: float = _f("kJ/mol", "Arrhenius activation energy of D0", 15.0, ge=0)

    # --- ageing --------------------------------------------------------------------------
    fade_per_cycle: float = _f(
        "1/cycle", "capacity fraction lost per equivalent full cycle", 0.0, ge=0, lt=0.1
    )
    resistance_growth_per_cycle: float = _f(
        "1/cycle", "fractional growth of R_film and Rct per equivalent full cycle", 0.0, ge=0, lt=1
    )
    first_charge_side_current_mA_g: float = _f(
        "mA/g",
        "parasitic current during the first charge (CEI/binder); sets first-cycle CE",
        0.0,
        ge=0,
    )

    # --- stack pressure (solid-state cells) ---------------------------------------------
    R_contact_ohm: float = _f("Ω", "contact resistance at the reference stack pressure", 0.0, ge=0)
    P_ref_MPa: float = _f(
        "MPa", "reference stack pressure of R_contact and the capacity", 0.0, ge=0
    )
    contact_P0_MPa: float = _f(
        "MPa", "pressure scale of the contact law R ∝ ((P_ref+P0)/(P+P0))^n", 1.0, gt=0
    )
    contact_exponent: float = _f("-", "exponent n of the contact law", 1.0, ge=0)
    contact_capacity_loss: float = _f(
        "-", "capacity fraction isolated at 0 MPa (falls to 0 at P_ref)", 0.0, ge=0, lt=1
    )

    # --- measurement and faults ---------------------------------------------------------
    noise_V: float = _f("V", "standard deviation of voltage measurement noise", 1.0e-4, ge=0)
    eis_noise_rel: float = _f("-", "relative standard deviation of impedance noise", 0.002, ge=0)
    rail_V: float = _f(
        "V", "terminal voltage magnitude when current is forced into an open cell", 10.0, gt=0
    )
    short_ohm: float = _f("Ω", "resistance of a shorted cell", 0.005, gt=0)
    initial_soc: float = _f(
        "-", "SOC at assembly (0 = discharged, lithiated cathode)", 0.0, ge=0, le=1
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_mass(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("active_mass_g") is None:
            try:
                data = {
                    **data,
                    "active_mass_g": float(data["loading_mg_cm2"])
                    * float(data["area_cm2"])
                    / 1000.0,
                }
            except (KeyError, TypeError, ValueError):
                pass
        return data

    @model_validator(mode="after")
    def _check(self) -> CellParameters:
        if self.v_max <= self.v_min:
            raise ValueError(f"v_max ({self.v_max} V) must be above v_min ({self.v_min} V)")
        if self.li_fraction_charged >= self.li_fraction_discharged:
            raise ValueError("li_fraction_charged must be below li_fraction_discharged")
        expected = self.loading_mg_cm2 * self.area_cm2 / 1000.0
        if abs(self.active_mass_g - expected) > 0.05 * expected:
            raise ValueError(
                f"active_mass_g ({self.active_mass_g:g} g) disagrees with loading x area "
                f"({expected:g} g) by more than 5 %"
            )
        return self

    # --- derived quantities -------------------------------------------------------------
    @property
    def capacity_Ah(self) -> float:
        """Usable capacity at low rate, T_ref and P_ref, before any fade."""
        return self.specific_capacity_mAh_g * self.active_mass_g / 1000.0

    @property
    def one_c_A(self) -> float:
        """1C current on the preset's basis (c_rate_basis_mAh_g x active mass)."""
        return self.c_rate_basis_mAh_g * self.active_mass_g / 1000.0

    @property
    def particle_radius_um(self) -> float:
        """Radius of the model sphere, 3L, so that its V/S equals the diffusion length."""
        return 3.0 * self.diffusion_length_um

    # --- copies ----------------------------------------------------------------------------

    def with_overrides(self, overrides: dict[str, Any]) -> CellParameters:
        """A validated copy with some parameters changed; unknown names are refused."""
        self._refuse_unknown(overrides)
        data = self.model_dump()
        if "active_mass_g" not in overrides and (
            "loading_mg_cm2" in overrides or "area_cm2" in overrides
        ):
            data["active_mass_g"] = None  # re-derive from the new loading x area
        data.update(overrides)
        return parameters_from_mapping(data, source=f"overrides of {self.name!r}")


def parameters_from_mapping(data: dict[str, Any], source: str) -> CellParameters:
    """Validate a mapping into CellParameters; errors become one SimulatorError sentence."""
    try:
        return CellParameters.model_validate(data)
    except ValidationError as exc:
        refuse_invalid(exc, CellParameters, source, "cell")
