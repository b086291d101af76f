"""The simulated cells: the Li | NCM811 half cell and the electrolyte-only cells, their presets,
impedance, and the factory that picks the model a preset's kind names."""

from simulators.cell.electrolyte import BlockingCell, ElectrolyteCell, LiBlockingCell
from simulators.cell.electrolyte_params import (
    ELECTROLYTE_KINDS,
    BlockingCellParameters,
    ElectrolyteParameters,
    LiBlockingCellParameters,
    SymmetricLiCellParameters,
)
from simulators.cell.factory import NCM_KIND, cell_kind, make_cell
from simulators.cell.model import Cell, arrhenius_factor
from simulators.cell.ocv import OCVCurve, ncm811_ocv
from simulators.cell.params import CellParameters
from simulators.cell.presets import PRESET_DIR, list_presets, load_preset, preset_path
from simulators.cell.symmetric import SymmetricLiCell

__all__ = [
    "ELECTROLYTE_KINDS",
    "NCM_KIND",
    "PRESET_DIR",
    "BlockingCell",
    "BlockingCellParameters",
    "Cell",
    "CellParameters",
    "ElectrolyteCell",
    "ElectrolyteParameters",
    "LiBlockingCell",
    "LiBlockingCellParameters",
    "OCVCurve",
    "SymmetricLiCell",
    "SymmetricLiCellParameters",
    "arrhenius_factor",
    "cell_kind",
    "list_presets",
    "load_preset",
    "make_cell",
    "ncm811_ocv",
    "preset_path",
]
