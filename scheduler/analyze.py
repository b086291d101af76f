"""Analyse a stored run: read it back, run the analyses its protocol names, plot, store.

The protocol is re-bound from the stored source text (with the run's overrides and the
cell's capacity basis) so each step record learns its `cycle_type` and the analysis knows
the 1C current the run used. A run without a protocol (an imported .mpr file) gets the
analyses its data calls for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import protocols
from protocols.analysis.dispatch import Report, analyze_run
from protocols.errors import ProtocolError
from scheduler.binding import CellInfo, bind
from scheduler.errors import SchedulerError
from scheduler.jsonable import jsonable


@dataclass
class RunData:
    """Everything the analyses read about one run, as plain data."""

    run_id: int
    samples: dict[str, Any]
    spectra: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    cell: dict[str, Any]
    protocol_meta: dict[str, Any]
    analyses: list[str] | None
    source: str = "cellbench"


@dataclass
class Analysed:
    data: RunData
    report: Report
    plots: dict[str, Path] = field(default_factory=dict)
    stored: list[int] = field(default_factory=list)


def _cell_dict(row: Any) -> dict[str, Any]:
    if row is None:
        return {"name": "", "extra": {}}
    return {
        "name": row.name,
        "chemistry": row.chemistry,
        "active_mass_g": row.active_mass_g,
        "area_cm2": row.area_cm2,
        "loading_mg_cm2": row.loading_mg_cm2,
        "specific_capacity_mAh_g": row.specific_capacity_mAh_g,
        "nominal_capacity_mAh": row.nominal_capacity_mAh,
        "extra": dict(row.extra or {}),
    }


def load_run_data(store: Any, run_id: int) -> RunData:
    """Read a run, its cell, protocol, steps, spectra and samples from the store."""
    run = store.get_run(run_id)
    cell_row = store.get_cell(run.cell_id) if run.cell_id is not None else None
    cell = _cell_dict(cell_row)
    steps = [
        {
            "step_count": s.step_count,
            "step_index": s.step_index,
            "kind": s.kind,
            "label": s.label,
            "cycle": s.cycle,
            "end_reason": s.end_reason,
        }
        for s in store.steps(run_id)
    ]
    spectra = [
        {
            "step_count": s.step_count,
            "frequency_Hz": s.frequency_Hz or [],
            "z_real_ohm": s.z_real_ohm or [],
            "z_imag_ohm": s.z_imag_ohm or [],
            "temperature_degC": s.temperature_degC,
        }
        for s in store.spectra(run_id)
    ]
    meta: dict[str, Any] = {"name": "", "metadata": {}}
    analyses: list[str] | None = None
    if run.protocol_id is not None:
        stored = store.get_protocol(run.protocol_id)
        try:
            protocol = protocols.loads(stored.source_text, source=stored.name or "<stored>")
        except ProtocolError:
            protocol = None
        if protocol is not None:
            meta = {"name": protocol.name, "metadata": dict(protocol.metadata)}
            analyses = list(protocol.analyses) or None
            overrides = (run.meta or {}).get("overrides") or None
            try:
                plan = bind(protocol, CellInfo.from_row(cell_row), overrides).plan
            except (ProtocolError, SchedulerError):
                plan = None
            if plan is not None:
                if plan.basis is not None:
                    meta["one_c_A"] = plan.basis.one_c_A
                types = {step.index: step.cycle_type for step in plan.steps}
                for step in steps:
                    step["cycle_type"] = types.get(step["step_index"])
    elif run.source != "cellbench":
        meta["name"] = f"imported ({(run.meta or {}).get('source_file', run.source)})"
    return RunData(
        run_id=run_id,
        samples=store.read_samples(run_id),
        spectra=spectra,
        steps=steps,
        cell=cell,
        protocol_meta=meta,
        analyses=analyses,
        source=run.source,
    )


def analyse_stored_run(
    store: Any,
    run_id: int,
    *,
    output_dir: Path | None = None,
    analyses: list[str] | None = None,
    store_results: bool = True,
) -> Analysed:
    """Analyse one stored run; write its plots into `output_dir` and store each result."""
    data = load_run_data(store, run_id)
    report = analyze_run(
        data.samples,
        data.spectra,
        data.steps,
        cell=data.cell,
        protocol_meta=data.protocol_meta,
        analyses=analyses or data.analyses,
    )
    outcome = Analysed(data, report)
    if output_dir is not None:
        from protocols.analysis.report_plots import write_report_plots

        outcome.plots = write_report_plots(
            report,
            data.samples,
            data.spectra,
            output_dir,
            stem=f"run{run_id}",
            active_mass_g=data.cell.get("active_mass_g"),
        )
    if store_results:
        for kind, result in report.outcomes.items():
            if result.ok:
                outcome.stored.append(store.add_analysis(run_id, kind, jsonable(result.as_dict())))
    return outcome
