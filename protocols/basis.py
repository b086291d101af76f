"""The capacity basis (what 1C is for this cell) and the cell description file."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from protocols import units
from protocols.errors import Problem, ProtocolError
from protocols.schema import validation_problems
from protocols.source import decode, parse_yaml


@dataclass(frozen=True)
class CapacityBasis:
    """What 1C means for one cell: `one_c_A` amperes, and how it was worked out.

    The active mass and electrode area ride along when known, so currents stated in mA/g or
    mA/cm² resolve too.
    """

    one_c_A: float
    description: str
    active_mass_g: float | None = None
    area_cm2: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.one_c_A) and self.one_c_A > 0):
            raise ProtocolError(
                [Problem("<cell>", "", f"1C must be a positive current, not {self.one_c_A} A")]
            )

    @classmethod
    def from_specific(
        cls, active_mass_g: float, specific_capacity_mAh_g: float, *, area_cm2: float | None = None
    ) -> CapacityBasis:
        """1C = active mass × specific capacity (e.g. 12 mg × 200 mAh/g = 2.4 mA)."""
        _positive("active mass", active_mass_g)
        _positive("specific capacity", specific_capacity_mAh_g)
        how = f"{specific_capacity_mAh_g:g} mA/g × {active_mass_g * 1000:g} mg"
        return cls._per_hour(active_mass_g * specific_capacity_mAh_g, how, active_mass_g, area_cm2)

    @classmethod
    def from_areal(
        cls, area_cm2: float, areal_capacity_mAh_cm2: float, *, active_mass_g: float | None = None
    ) -> CapacityBasis:
        """1C = electrode area × areal capacity."""
        _positive("area", area_cm2)
        _positive("areal capacity", areal_capacity_mAh_cm2)
        how = f"{areal_capacity_mAh_cm2:g} mA/cm² × {area_cm2:g} cm²"
        return cls._per_hour(area_cm2 * areal_capacity_mAh_cm2, how, active_mass_g, area_cm2)

    @classmethod
    def from_nominal(
        cls,
        capacity_mAh: float,
        *,
        active_mass_g: float | None = None,
        area_cm2: float | None = None,
    ) -> CapacityBasis:
        """1C = the nominal capacity per hour."""
        _positive("nominal capacity", capacity_mAh)
        how = f"nominal {capacity_mAh:g} mAh / 1 h"
        return cls._per_hour(capacity_mAh, how, active_mass_g, area_cm2)

    @classmethod
    def _per_hour(
        cls, capacity_mAh: float, how: str, active_mass_g: float | None, area_cm2: float | None
    ) -> CapacityBasis:
        """1C = `capacity_mAh` in one hour, described as '1C = <how> = <current>'."""
        one_c = capacity_mAh / 1000.0
        text = f"1C = {how} = {units.format_si(one_c, 'A')}"
        return cls(one_c, text, active_mass_g=active_mass_g, area_cm2=area_cm2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "one_c_A": self.one_c_A,
            "description": self.description,
            "active_mass_g": self.active_mass_g,
            "area_cm2": self.area_cm2,
        }


def capacity_basis(
    *,
    active_mass_g: float | None = None,
    specific_capacity_mAh_g: float | None = None,
    area_cm2: float | None = None,
    areal_capacity_mAh_cm2: float | None = None,
    nominal_capacity_mAh: float | None = None,
    loading_mg_cm2: float | None = None,
) -> CapacityBasis | None:
    """What 1C is for a cell: specific capacity × active mass, else areal capacity × area,
    else the nominal capacity; None for a cell that states none of them (a blocking cell).

    This is the one place the rule lives: cell files, stored cells, simulated cells and the
    analysis of a run all ask it. The active mass may come from loading × area.
    """
    if active_mass_g is None and loading_mg_cm2 and area_cm2:
        active_mass_g = loading_mg_cm2 * area_cm2 / 1000.0
    if active_mass_g and specific_capacity_mAh_g:
        return CapacityBasis.from_specific(
            active_mass_g, specific_capacity_mAh_g, area_cm2=area_cm2
        )
    if area_cm2 and areal_capacity_mAh_cm2:
        return CapacityBasis.from_areal(
            area_cm2, areal_capacity_mAh_cm2, active_mass_g=active_mass_g
        )
    if nominal_capacity_mAh:
        return CapacityBasis.from_nominal(
            nominal_capacity_mAh, active_mass_g=active_mass_g, area_cm2=area_cm2
        )
    return None


def _positive(what: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ProtocolError(
            [Problem("<cell>", "", f"the {what} must be a positive number, not {value!r}")]
        )


_UNIT_FIELDS: dict[str, tuple[units.Kind, float]] = {
    # field: (kind, factor from the kind's SI unit to the field's unit)
    "active_mass_mg": (units.Kind("mass", "mg", "a mass", "12 mg"), 1.0),
    "area_cm2": (units.Kind("area", "cm**2", "an area", "0.785 cm2"), 1.0),
    "loading_mg_cm2": (units.Kind("loading", "mg/cm**2", "an areal loading", "15 mg/cm2"), 1.0),
    "specific_capacity_mAh_g": (
        units.Kind("specific_charge", "mA*h/g", "a specific capacity", "200 mAh/g"),
        1.0,
    ),
    "areal_capacity_mAh_cm2": (
        units.Kind("areal_charge", "mA*h/cm**2", "an areal capacity", "2 mAh/cm2"),
        1.0,
    ),
    "nominal_capacity_mAh": (units.Kind("charge", "mA*h", "a capacity", "5 mAh"), 1.0),
    "counter_electrode_V": (units.Kind("voltage", "V", "a voltage", "0.62 V"), 1.0),
}


class CellSpec(BaseModel):
    """A cell description file (YAML or TOML). Numbers are in the unit the field name says;
    strings with units ("12 mg", "0.785 cm2") are converted."""

    model_config = ConfigDict(extra="forbid")

    name: str
    chemistry: str = ""
    active_mass_mg: float | None = Field(default=None, gt=0)
    area_cm2: float | None = Field(default=None, gt=0)
    loading_mg_cm2: float | None = Field(default=None, gt=0)  # active-material loading
    specific_capacity_mAh_g: float | None = Field(default=None, gt=0)
    areal_capacity_mAh_cm2: float | None = Field(default=None, gt=0)
    nominal_capacity_mAh: float | None = Field(default=None, gt=0)
    counter_electrode: str = "Li"
    counter_electrode_V: float | None = None  # vs Li/Li+; known for Li and Li-In
    notes: str = ""

    @field_validator(*_UNIT_FIELDS, mode="before")
    @classmethod
    def _with_units(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            kind, _ = _UNIT_FIELDS[info.field_name]
            q = units.parse(value, (kind,))
            return q.value
        if isinstance(value, bool):
            raise ValueError("expected a number")
        return value

    @model_validator(mode="after")
    def _fill(self) -> CellSpec:
        if self.active_mass_mg is None and self.loading_mg_cm2 and self.area_cm2:
            self.active_mass_mg = self.loading_mg_cm2 * self.area_cm2
        if self.counter_electrode_V is None:
            key = self.counter_electrode.strip().lower().replace(" ", "")
            if key not in units.COUNTER_ELECTRODES:
                raise ValueError(
                    f"counter_electrode_V is needed for the counter electrode "
                    f"'{self.counter_electrode}' (known without it: Li, Li-In)"
                )
            self.counter_electrode_V = units.COUNTER_ELECTRODES[key]
        return self

    @classmethod
    def load(cls, path: str | Path) -> CellSpec:
        """Read a cell file; every problem comes back as one ProtocolError."""
        p = Path(path)
        file = str(p)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ProtocolError(
                [Problem(file, "", f"cannot be read: {exc.strerror or exc}")]
            ) from None
        if p.suffix.lower() == ".toml":
            text = decode(raw, file)
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ProtocolError([Problem(file, "", f"is not valid TOML: {exc}")]) from None
            lines: dict[str, int] = {}
        else:
            doc = parse_yaml(raw, file)
            data, lines = doc.data, doc.lines
        if isinstance(data, dict) and isinstance(data.get("cell"), dict) and len(data) == 1:
            data = data["cell"]
            lines = {k[5:]: v for k, v in lines.items() if k.startswith("cell.")}
        if not isinstance(data, dict):
            raise ProtocolError(
                [Problem(file, "", "must be a mapping of cell fields (name, active_mass_mg, ...)")]
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(validation_problems(exc, cls, file, "", lines.get)) from None

    def basis(self) -> CapacityBasis:
        """What 1C is for this cell (see `capacity_basis`); a cell file must state one."""
        basis = capacity_basis(
            active_mass_g=self.active_mass_mg / 1000.0 if self.active_mass_mg else None,
            specific_capacity_mAh_g=self.specific_capacity_mAh_g,
            area_cm2=self.area_cm2,
            areal_capacity_mAh_cm2=self.areal_capacity_mAh_cm2,
            nominal_capacity_mAh=self.nominal_capacity_mAh,
        )
        if basis is not None:
            return basis
        raise ProtocolError(
            [
                Problem(
                    f"<cell {self.name}>",
                    "",
                    "states no capacity basis; give active_mass_mg with specific_capacity_mAh_g, "
                    "area_cm2 with areal_capacity_mAh_cm2, or nominal_capacity_mAh",
                )
            ]
        )
