"""Volumetric energy density of a cell stack from a measured discharge energy.

E_V = E_dis / (A · (h_cathode + h_separator + h_anode)), in Wh/L. The energy is what the cell
delivered (the cycle's discharge energy, ∫V·|I|dt), never capacity × an assumed voltage. The
volume is the stack the cell record describes: the cathode layer alone, or the cathode with a
separator and an anode layer of stated thickness (kim2025 assumes 30 µm of each for a
practical stack). The result says which volume it divided by.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from protocols.analysis.errors import AnalysisError

TECHNIQUE = "volumetric energy density"


@dataclass(frozen=True)
class VolumetricEnergy:
    energy_Wh: float
    area_cm2: float
    cathode_um: float
    separator_um: float
    anode_um: float
    volume_cm3: float
    Wh_L: float
    volume: str  # which volume the energy was divided by, in words

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _thickness(value: float, where: str, *, allow_zero: bool) -> float:
    ok = isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        wanted = "a non-negative" if allow_zero else "a positive"
        raise AnalysisError(TECHNIQUE, where, f"must be {wanted} number, got {value!r}.")
    return float(value)


def volumetric_energy_density(
    discharge_Wh: float,
    *,
    area_cm2: float,
    cathode_um: float,
    separator_um: float = 0.0,
    anode_um: float = 0.0,
) -> VolumetricEnergy:
    """Wh/L of a measured discharge energy over the stack volume A·(h_c + h_s + h_a)."""
    energy = discharge_Wh
    if not (isinstance(energy, int | float) and math.isfinite(energy) and energy > 0):
        raise AnalysisError(
            TECHNIQUE, "discharge_Wh", f"must be a positive energy, got {energy!r}."
        )
    area = _thickness(area_cm2, "area_cm2", allow_zero=False)
    cathode = _thickness(cathode_um, "cathode_um", allow_zero=False)
    separator = _thickness(separator_um, "separator_um", allow_zero=True)
    anode = _thickness(anode_um, "anode_um", allow_zero=True)
    volume_cm3 = area * (cathode + separator + anode) * 1e-4
    layers = [f"cathode {cathode:g} µm"]
    if separator:
        layers.append(f"separator {separator:g} µm")
    if anode:
        layers.append(f"anode {anode:g} µm")
    if len(layers) == 1:
        words = f"the cathode layer alone ({cathode:g} µm × {area:g} cm² = {volume_cm3:.4g} cm³)"
    else:
        words = (
            f"the stack {' + '.join(layers)} = {cathode + separator + anode:g} µm × "
            f"{area:g} cm² = {volume_cm3:.4g} cm³"
        )
    return VolumetricEnergy(
        energy_Wh=float(energy),
        area_cm2=area,
        cathode_um=cathode,
        separator_um=separator,
        anode_um=anode,
        volume_cm3=volume_cm3,
        Wh_L=float(energy) / (volume_cm3 * 1e-3),
        volume=words,
    )
