"""One run's data as the analyses see it, and what they read from the cell."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.basis import capacity_basis


@dataclass
class RunContext:
    samples: Mapping[str, np.ndarray]
    spectra: list[Mapping[str, Any]]
    steps: list[Mapping[str, Any]]
    cell: Mapping[str, Any]
    meta: Mapping[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.cell.get("extra") or {}

    def number(self, key: str) -> float | None:
        """A positive number from the cell (or its extra), else None."""
        for source in (self.cell, self.extra):
            value = source.get(key)
            if isinstance(value, int | float) and math.isfinite(value) and value > 0:
                return float(value)
        return None

    @property
    def active_mass_g(self) -> float | None:
        mass = self.number("active_mass_g")
        if mass is None and self.number("loading_mg_cm2") and self.number("area_cm2"):
            mass = self.number("loading_mg_cm2") * self.number("area_cm2") / 1000.0  # type: ignore[operator]
        return mass

    @property
    def one_c_A(self) -> float | None:
        value = self.meta.get("one_c_A")
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
        basis = capacity_basis(
            active_mass_g=self.active_mass_g,
            specific_capacity_mAh_g=self.number("specific_capacity_mAh_g"),
            area_cm2=self.number("area_cm2"),
            areal_capacity_mAh_cm2=self.number("areal_capacity_mAh_cm2"),
            nominal_capacity_mAh=self.number("nominal_capacity_mAh"),
        )
        return basis.one_c_A if basis else None

    @property
    def capacity_Ah(self) -> float | None:
        """Usable capacity for the SOC axis: extra capacity_mAh_g × mass, else the 1C basis."""
        mass, usable = self.active_mass_g, self.number("capacity_mAh_g")
        if mass and usable:
            return mass * usable / 1000.0
        return self.one_c_A

    def has_current(self) -> bool:
        current = self.samples.get("current_A")
        return current is not None and len(current) > 1 and bool(np.nanmax(np.abs(current)) > 0)

    def steps_of(self, *kinds: str) -> list[Mapping[str, Any]]:
        return [s for s in self.steps if s.get("kind") in kinds]

    def rows_of_steps(self, step_counts: Sequence[int]) -> np.ndarray:
        counts = np.asarray(self.samples.get("step_count", []))
        return np.isin(counts, np.asarray(list(step_counts), dtype=counts.dtype))


def subset(samples: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[mask] for k, v in samples.items() if len(v) == len(mask)}
