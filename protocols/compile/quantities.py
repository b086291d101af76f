"""Values with units, resolved against the cell: what 1C is, and currents and voltages in SI.

A C-rate, mA/cm² or mA/g needs the cell's capacity basis; without one (checking a file at
load time) the value is noted as needing a cell and comes out as NaN.
"""

from __future__ import annotations

import math
from typing import Any

from protocols import units as U
from protocols.basis import CapacityBasis
from protocols.compile.parameters import BAD, subst
from protocols.compile.report import Report, Where

CURRENTS = (U.CURRENT, U.C_RATE, U.CURRENT_DENSITY, U.SPECIFIC_CURRENT)
_BASIS_KINDS = (
    U.SPECIFIC_CHARGE,
    U.SPECIFIC_CURRENT,
    U.AREAL_CHARGE,
    U.CURRENT_DENSITY,
    U.CHARGE,
    U.CURRENT,
)


class Quantities:
    """Reads quantities for one compile and converts them with the cell's basis."""

    def __init__(self, report: Report, basis: CapacityBasis | None, counter_V: float) -> None:
        self.report = report
        self.cell_basis = basis  # as the cell states it
        self.basis = basis  # as the protocol's c_rate_basis makes it
        self.one_c_A: float | None = None
        self.counter_V = counter_V

    def q(
        self,
        raw: Any,
        kinds: tuple[U.Kind, ...],
        where: Where,
        *,
        positive: bool = False,
        nonneg: bool = False,
        reference: bool = False,
    ) -> U.Value | None:
        """`raw` read as one of `kinds`; None (reported) when it is not one or out of sign."""
        try:
            v = U.parse(raw, kinds, allow_reference=reference)
        except U.QuantityError as exc:
            self.report.fail(where, str(exc))
            return None
        if positive and not v.value > 0:
            self.report.fail(where, f"'{v.text}' must be greater than zero")
            return None
        if nonneg and v.value < 0:
            self.report.fail(where, f"'{v.text}' must not be negative")
            return None
        return v

    def cell_v(self, v: U.Value) -> float:
        """A voltage as the cell voltage, converting from a named reference electrode."""
        ref = U.reference_potential(v.reference)
        if ref is None:
            return v.value
        return v.value + ref - self.counter_V

    def amps(self, v: U.Value, where: Where) -> float:
        """A current in A from A, mA/cm², mA/g or a C-rate; NaN (noted) when a cell is needed."""
        if v.kind is U.CURRENT:
            return v.value
        if v.kind is U.C_RATE:
            return self._times(v, where, self.one_c_A, "a C-rate")
        if v.kind is U.CURRENT_DENSITY:
            return self.per_area(v, where)
        if v.kind is U.SPECIFIC_CURRENT:
            return self.per_mass(v, where)
        return math.nan

    def per_area(self, v: U.Value, where: Where) -> float:
        """A per-cm² value times the electrode area; NaN (noted) when the area is unknown."""
        area = self.basis.area_cm2 if self.basis else None
        return self._times(v, where, area, "per cm², so the electrode area must be known")

    def per_mass(self, v: U.Value, where: Where) -> float:
        """A per-gram value times the active mass; NaN (noted) when the mass is unknown."""
        mass = self.basis.active_mass_g if self.basis else None
        return self._times(v, where, mass, "per gram, so the active mass must be known")

    def _times(self, v: U.Value, where: Where, factor: float | None, needs: str) -> float:
        """`v` times the cell's `factor`; NaN, noted as "'<v>' is <needs>", when it is unknown."""
        if not factor:
            self.report.need(where, f"'{v.text}' is {needs}")
            return math.nan
        return v.value * factor

    def c_rate_of(self, v: U.Value) -> float | None:
        """The C-rate a current amounts to, when 1C is known."""
        if v.kind is U.C_RATE:
            return v.value
        amps = math.nan
        if v.kind is U.CURRENT:
            amps = v.value
        elif v.kind is U.CURRENT_DENSITY and self.basis and self.basis.area_cm2:
            amps = v.value * self.basis.area_cm2
        elif v.kind is U.SPECIFIC_CURRENT and self.basis and self.basis.active_mass_g:
            amps = v.value * self.basis.active_mass_g
        if self.one_c_A and math.isfinite(amps):
            return amps / self.one_c_A
        return None

    def resolve_basis(self, raw: Any, where: Where, env: dict[str, Any]) -> None:
        """1C from the protocol's `c_rate_basis` (per gram, per cm², absolute), else the cell's."""
        basis = self.cell_basis
        if raw is None:
            self.one_c_A = basis.one_c_A if basis else None
            return
        raw = subst(raw, where, env, self.report)
        if raw is BAD:
            return
        v = self.q(raw, _BASIS_KINDS, where, positive=True)
        if v is None:
            return
        per_hour = v.value  # A·h/x and A/x have the same number per 1 h
        mass = basis.active_mass_g if basis else None
        area = basis.area_cm2 if basis else None
        if v.kind in (U.SPECIFIC_CHARGE, U.SPECIFIC_CURRENT):
            if not mass:
                self._basis_fallback(where, v, "active mass")
                return
            one_c = per_hour * mass
            text = (
                f"1C = {v.text} × {mass * 1000:g} mg = {U.format_si(one_c, 'A')} (protocol basis)"
            )
        elif v.kind in (U.AREAL_CHARGE, U.CURRENT_DENSITY):
            if not area:
                self._basis_fallback(where, v, "electrode area")
                return
            one_c = per_hour * area
            text = f"1C = {v.text} × {area:g} cm² = {U.format_si(one_c, 'A')} (protocol basis)"
        else:
            one_c = per_hour
            text = f"1C = {U.format_si(one_c, 'A')} from {v.text} (protocol basis)"
        self.one_c_A = one_c
        self.basis = CapacityBasis(one_c, text, active_mass_g=mass, area_cm2=area)

    def _basis_fallback(self, where: Where, v: U.Value, missing: str) -> None:
        """The protocol's 1C needs a mass or area the cell lacks: use the cell's own 1C."""
        basis = self.cell_basis
        if basis is None:
            self.report.need(
                where, f"1C is defined as {v.text}, so the cell's {missing} must be known"
            )
            return
        self.one_c_A = basis.one_c_A
        self.basis = CapacityBasis(
            basis.one_c_A,
            f"{basis.description} (the protocol's 1C = {v.text} needs the {missing}, which the"
            " cell does not state)",
            active_mass_g=basis.active_mass_g,
            area_cm2=basis.area_cm2,
        )
