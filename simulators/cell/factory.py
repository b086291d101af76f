"""One place that turns preset parameters into the right cell model, by the preset's kind."""

from __future__ import annotations

from typing import Any

from simulators.cell.electrolyte import BlockingCell, LiBlockingCell
from simulators.cell.electrolyte_params import (
    BlockingCellParameters,
    LiBlockingCellParameters,
    SymmetricLiCellParameters,
)
from simulators.cell.model import Cell
from simulators.cell.params import CellParameters
from simulators.cell.symmetric import SymmetricLiCell
from simulators.errors import SimulatorError

NCM_KIND = "ncm-half-cell"


def cell_kind(params: Any) -> str:
    """The kind a parameter set describes ("ncm-half-cell" for `CellParameters`)."""
    return getattr(params, "kind", NCM_KIND)


def make_cell(
    params: Any,
    *,
    soc: float | None = None,
    temperature_degC: float | None = None,
    pressure_MPa: float = 0.0,
    seed: int | None = None,
) -> Any:
    """The simulated cell for these parameters: the NCM811 half cell or an electrolyte cell."""
    if isinstance(params, CellParameters):
        return Cell(
            params, soc=soc, temperature_degC=temperature_degC, pressure_MPa=pressure_MPa, seed=seed
        )
    if soc is not None:
        raise SimulatorError(
            f"cell preset {params.name!r} is a {cell_kind(params)} cell, which has no state of "
            "charge to start from; remove its soc."
        )
    options: dict[str, Any] = {
        "temperature_degC": temperature_degC,
        "pressure_MPa": pressure_MPa,
        "seed": seed,
    }
    if isinstance(params, BlockingCellParameters):
        return BlockingCell(params, **options)
    if isinstance(params, LiBlockingCellParameters):
        return LiBlockingCell(params, **options)
    if isinstance(params, SymmetricLiCellParameters):
        return SymmetricLiCell(params, **options)
    raise SimulatorError(f"no cell model for parameters of type {type(params).__name__}.")
