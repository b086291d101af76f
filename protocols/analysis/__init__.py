"""Technique analyses, kept beside their procedures.

Cycle summary, IR drops, rate table, GITT (Weppner–Huggins), EIS circuit fit and lin-KK,
Arrhenius, and the supporting techniques (DC polarisation, tortuosity, Bruce–Vincent, Li‖Li,
CV and LSV). Plots live in `protocols.analysis.plots`, which alone imports matplotlib.
"""

from protocols.analysis.arrhenius import ArrheniusResult, arrhenius
from protocols.analysis.cycles import CycleSummary, cycle_summary
from protocols.analysis.eis import DEFAULT_CIRCUIT, EisFit, KKResult, fit_spectrum, kramers_kronig
from protocols.analysis.energy_density import VolumetricEnergy, volumetric_energy_density
from protocols.analysis.errors import AnalysisError
from protocols.analysis.gitt import GittPulse, GittResult, analyze_gitt
from protocols.analysis.rate import RateRow, RateTable, discharge_c_rates, rate_table
from protocols.analysis.steps import IrDrop, cycle_ir, ir_drops
from protocols.analysis.techniques import (
    CvCycle,
    DcPolarisation,
    HalfCycle,
    LsvOnset,
    SteadyCurrent,
    SymmetricCycling,
    Tortuosity,
    Transference,
    bruce_vincent,
    conductivity,
    cv_peaks,
    dc_polarisation,
    lsv_onset,
    steady_state_current,
    symmetric_overpotential,
    tortuosity_factor,
)

__all__ = [
    "DEFAULT_CIRCUIT",
    "AnalysisError",
    "ArrheniusResult",
    "CvCycle",
    "CycleSummary",
    "DcPolarisation",
    "EisFit",
    "GittPulse",
    "GittResult",
    "HalfCycle",
    "IrDrop",
    "KKResult",
    "LsvOnset",
    "RateRow",
    "RateTable",
    "SteadyCurrent",
    "SymmetricCycling",
    "Tortuosity",
    "Transference",
    "VolumetricEnergy",
    "analyze_gitt",
    "arrhenius",
    "bruce_vincent",
    "conductivity",
    "cv_peaks",
    "cycle_ir",
    "cycle_summary",
    "dc_polarisation",
    "discharge_c_rates",
    "fit_spectrum",
    "ir_drops",
    "kramers_kronig",
    "lsv_onset",
    "rate_table",
    "steady_state_current",
    "symmetric_overpotential",
    "tortuosity_factor",
    "volumetric_energy_density",
]
