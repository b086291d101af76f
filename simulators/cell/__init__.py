"""The simulated cell: single-particle NCM811 cathode vs Li metal, its presets and impedance."""

from simulators.cell.model import Cell, arrhenius_factor
from simulators.cell.ocv import OCVCurve, ncm811_ocv
from simulators.cell.params import CellParameters
from simulators.cell.presets import PRESET_DIR, list_presets, load_preset, preset_path

__all__ = [
    "PRESET_DIR",
    "Cell",
    "CellParameters",
    "OCVCurve",
    "arrhenius_factor",
    "list_presets",
    "load_preset",
    "ncm811_ocv",
    "preset_path",
]
