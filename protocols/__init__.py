"""The protocol language, the papers' procedure library, and the plan a runner walks.

from protocols import load, CellSpec
plan = load("protocols/library/gao2025/rate.yaml").bind(CellSpec.load("cell.yaml").basis())
seq = plan.sequencer()
step = seq.next(None)          # first step; then seq.next(outcome) after each step
"""

from protocols.basis import CapacityBasis, CellSpec
from protocols.errors import Problem, ProtocolError
from protocols.estimate import Estimate, Resources
from protocols.export_pybamm import build_experiment, experiment_config, python_source, to_pybamm
from protocols.program import LoopSpan, Plan
from protocols.protocol import Protocol, load, loads
from protocols.sequencer import Sequencer

LIBRARY = __import__("pathlib").Path(__file__).parent / "library"

__all__ = [
    "LIBRARY",
    "CapacityBasis",
    "CellSpec",
    "Estimate",
    "LoopSpan",
    "Plan",
    "Problem",
    "Protocol",
    "ProtocolError",
    "Resources",
    "Sequencer",
    "build_experiment",
    "experiment_config",
    "load",
    "loads",
    "python_source",
    "to_pybamm",
]
