"""One place that turns preset parameters into the right cell model, by the preset's kind."""

from __future__ import annotations

from typing import Any, Unpack

from simulators.cell.conditions import CellStart
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


def make_cell(params: Any, *, soc: float | None = None, **start: Unpack[CellStart]) -> Any:
    """The simulated cell for these parameters: the NCM811 half cell or an electrolyte cell."""
    if isinstance(params, CellParameters):
        return Cell(params, soc=soc, **start)
    if soc is not None:
        raise SimulatorError(
            f"cell preset {params.name!r} is a {cell_kind(params)} cell, which has no state of "
            "charge to start from; remove its soc."
        )
    if isinstance(params, BlockingCellParameters):
        return BlockingCell(params, **start)
    if isinstance(params, LiBlockingCellParameters):
        return LiBlockingCell(params, **start)
    if isinstance(params, SymmetricLiCellParameters):
        return SymmetricLiCell(params, **start)
    raise SimulatorError(f"no cell model for parameters of type {type(params).__name__}.")
