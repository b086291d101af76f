"""The protocol language, the papers' procedure library, and the plan a runner walks.

    from protocols import load, CellSpec, Sequencer
    plan = load("protocols/library/gao2025/rate.yaml").bind(CellSpec.load("cell.yaml").basis())
    seq = Sequencer(plan)
    step = seq.next(None)          # first step; then seq.next(outcome) after each step

Exports load on first use, so that importing `protocols.errors` or `protocols.steps` does not
build the unit registry.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from protocols.errors import Problem, ProtocolError

LIBRARY = Path(__file__).parent / "library"

_EXPORTS = {
    "CapacityBasis": "protocols.basis",
    "CellSpec": "protocols.basis",
    "capacity_basis": "protocols.basis",
    "Estimate": "protocols.estimate",
    "Resources": "protocols.estimate",
    "build_experiment": "protocols.export_pybamm",
    "experiment_config": "protocols.export_pybamm",
    "python_source": "protocols.export_pybamm",
    "to_pybamm": "protocols.export_pybamm",
    "LoopSpan": "protocols.plan",
    "Plan": "protocols.plan",
    "Protocol": "protocols.protocol",
    "load": "protocols.protocol",
    "loads": "protocols.protocol",
    "Sequencer": "protocols.sequencer",
}

__all__ = ["LIBRARY", "Problem", "ProtocolError", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name]), name)
    return value
