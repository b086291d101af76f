"""Where a simulated bench's cells rest before anything runs: the open-circuit voltage each
slot's cell starts at, as `cellbench sim` builds it (its preset, SOC and overrides)."""

from __future__ import annotations

from typing import Any

from scheduler.sim.server import BenchSimulation


def simulated_rest_V(bench: Any, slot_name: str) -> float | None:
    """The OCV the simulated cell of `slot_name` starts at; None when the bench is not
    simulated or the cell (a blocking or symmetric cell) has no state of charge."""
    from simulators.cell import make_cell

    sim = getattr(bench, "simulation", None)
    if sim is None:
        return None
    spec = sim.cells.get(slot_name)
    try:
        params = BenchSimulation.cell_params(spec)
        cell = make_cell(params, soc=spec.soc if spec else None, temperature_degC=sim.start_degC)
    except Exception:  # a bad cell spec is `cellbench sim`'s to report, not submission's
        return None
    ocv = getattr(cell, "ocv", None)
    return float(ocv()) if callable(ocv) else None
