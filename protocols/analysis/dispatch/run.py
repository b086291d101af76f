"""analyze_run: which analyses run on a run's data, in order, and the report they make."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from protocols.analysis.dispatch.context import RunContext
from protocols.analysis.dispatch.cycling import run_cycles, run_gitt, run_ir, run_rate
from protocols.analysis.dispatch.impedance import (
    run_arrhenius_rct,
    run_arrhenius_sigma,
    run_conductivity,
    run_eis,
)
from protocols.analysis.dispatch.outcome import ALIASES, Outcome, Report
from protocols.analysis.dispatch.techniques import (
    run_bruce_vincent,
    run_cv,
    run_dc_polarisation,
    run_li_li,
    run_lsv,
)
from protocols.analysis.errors import AnalysisError

ANALYSES: dict[str, Callable[[RunContext], Outcome]] = {
    "cycle_summary": run_cycles,
    "rate_capability": run_rate,
    "gitt": run_gitt,
    "eis_fit": run_eis,
    "arrhenius_rct": run_arrhenius_rct,
    "conductivity": run_conductivity,
    "arrhenius_conductivity": run_arrhenius_sigma,
    "dc_polarisation": run_dc_polarisation,
    "bruce_vincent": run_bruce_vincent,
    "li_li_overpotential": run_li_li,
    "cv_peaks": run_cv,
    "lsv_window": run_lsv,
    "ir_drop": run_ir,
}


# --- inference for data without a protocol (an imported file) ---------------------------------
def _looks_like_gitt(samples: Mapping[str, np.ndarray]) -> bool:
    """Several short current pulses, each followed by a much longer rest."""
    current = np.nan_to_num(np.asarray(samples.get("current_A", []), dtype=float))
    time = np.asarray(samples.get("test_time_s", []), dtype=float)
    if current.size < 10 or not np.any(current):
        return False
    on = np.abs(current) > 0.05 * np.max(np.abs(current))
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if starts.size < 3:
        return False
    pulse = np.median(time[ends] - time[starts])
    gaps = time[starts[1:]] - time[ends[:-1]]
    return bool(pulse > 0 and np.median(gaps) > 4 * pulse)


def infer_analyses(
    samples: Mapping[str, np.ndarray], spectra: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The analyses data without a protocol calls for."""
    found: list[str] = []
    if spectra:
        found.append("eis_fit")
        temps = [s.get("temperature_degC") for s in spectra]
        distinct = {round(float(t) * 2) / 2 for t in temps if t is not None and math.isfinite(t)}
        if len(distinct) >= 3:
            found.append("arrhenius_rct")
    current = samples.get("current_A")
    if current is not None and len(current) > 1 and np.nanmax(np.abs(current)) > 0:
        if _looks_like_gitt(samples):
            found.append("gitt")
        else:
            found.append("cycle_summary")
            found.append("ir_drop")
    return found


def analyze_run(
    samples: Mapping[str, Any],
    spectra: Sequence[Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]],
    *,
    cell: Mapping[str, Any],
    protocol_meta: Mapping[str, Any],
    analyses: Sequence[str] | None,
) -> Report:
    """Run the named analyses (or those the data calls for when `analyses` is None/empty).

    Unknown names are an AnalysisError listing the known ones. An analysis that cannot run
    on this data is kept in the report as skipped, with the reason.
    """
    columns = {k: np.asarray(v) for k, v in samples.items()}
    inferred = not analyses
    names = list(analyses) if analyses else infer_analyses(columns, spectra)
    unknown = [n for n in names if n not in ALIASES]
    if unknown:
        raise AnalysisError(
            "analysis",
            "analyses",
            f"{unknown[0]!r} is not a known analysis; known: {', '.join(sorted(ALIASES))}.",
        )
    ctx = RunContext(columns, list(spectra), list(steps), cell, protocol_meta)
    outcomes: dict[str, Outcome] = {}
    for name in dict.fromkeys(ALIASES[n] for n in names):
        try:
            outcomes[name] = ANALYSES[name](ctx)
        except AnalysisError as exc:
            outcomes[name] = Outcome(name, skipped=f"{exc.where}: {exc.message}")
    for key in ("cycles", "eis", "sigma"):  # what other analyses were built on, if not asked
        built = ctx.cache.get(key)
        if built is not None and built.kind not in outcomes:
            outcomes[built.kind] = built
    return Report(
        outcomes,
        tuple(names),
        inferred,
        cell=str(cell.get("name") or ""),
        protocol=str(protocol_meta.get("name") or ""),
    )
