"""Running a paper's procedures on their presets through the whole stack."""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import protocols
from scheduler.analyze import analyse_stored_run
from scheduler.binding import CellInfo
from scheduler.errors import SchedulerError
from scheduler.run_state import Progress
from scheduler.session import run_protocol
from scheduler.sim.papers.core import PaperResult, Procedure, ProcedureRun, not_reproduced
from storage import AsyncStore

PAPERS = ("gao2025", "kim2025", "ye2025")


def procedures(paper: str) -> list[Procedure]:
    """The procedures of one paper, in the order the demo runs them."""
    return _module(paper).procedures()


def _module(paper: str) -> ModuleType:
    if paper not in PAPERS:
        raise SchedulerError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}.")
    return import_module(f"scheduler.sim.papers.{paper}")


def load_procedure_protocol(procedure: Procedure) -> Any:
    path = protocols.LIBRARY / procedure.library
    if procedure.derive is None:
        return protocols.load(path)
    return protocols.loads(procedure.derive(path), source=f"{path} (derived)")


def cell_extra(params: Any) -> dict[str, Any]:
    """What the analyses need to know about a simulated cell beyond the cells table."""
    if hasattr(params, "kind"):  # an electrolyte-only cell: σ = L/(R·A) needs its L and A
        return {
            "cell_kind": params.kind,
            "electrolyte_thickness_um": params.thickness_um,
            "electrolyte_area_cm2": params.area_cm2,
        }
    return {
        "diffusion_length_um": params.diffusion_length_um,
        "diffusion_length_convention": params.D_convention,
        "capacity_mAh_g": params.specific_capacity_mAh_g,
        "thickness_um": params.thickness_um,
    }


async def run_procedure(
    db: Any,
    procedure: Procedure,
    *,
    output_dir: Path | None,
    paper: str,
    time_scale: float = 5e4,
    progress: Progress | None = None,
) -> ProcedureRun:
    """Run one procedure on its preset through the whole stack, then analyse the stored run."""
    from scheduler.sim.bench import simulated_emstat4, simulated_slot

    db = AsyncStore.of(db)
    protocol = load_procedure_protocol(procedure)

    async def on(driver: Any, params: Any, environment: Any = None) -> tuple[int, Any]:
        name = f"{paper} {procedure.key} ({params.name})"
        cell = CellInfo.from_preset(params, name)
        extra = {**cell_extra(params), **procedure.cell_extra}
        await db.add_cell(name, extra=extra)
        return await run_protocol(
            db,
            protocol,
            cell,
            driver,
            slot="paper-demo",
            bench="in-process simulated bench",
            progress=progress,
            environment=environment,
            overrides=procedure.overrides or None,
            metadata={"paper": paper, "procedure": procedure.key, "preset": procedure.preset},
        )

    if procedure.slot:
        async with simulated_slot(
            procedure.preset,
            overrides=procedure.cell_overrides or None,
            time_scale=time_scale if math.isfinite(time_scale) else 5e4,  # plants need a pace
            press=procedure.press,
            start_degC=procedure.start_degC,
        ) as slot:
            run_id, result = await on(slot.driver, slot.params, slot.environment)
    else:
        async with simulated_emstat4(
            procedure.preset, overrides=procedure.cell_overrides or None
        ) as channel:
            run_id, result = await on(channel.driver, channel.params)
    analysed = await db.with_store(analyse_stored_run, run_id, output_dir=output_dir)
    rows = []
    for expectation in procedure.expectations:
        measured = expectation.measure(analysed.report)
        rows.append(
            {
                "quantity": expectation.quantity,
                "reported": expectation.reported,
                "measured": measured,
                "unit": expectation.unit,
                "tolerance": expectation.tolerance_text(),
                "within": expectation.within(measured),
                "procedure": procedure.key,
                "run_id": run_id,
                "note": expectation.note,
            }
        )
    return ProcedureRun(procedure, run_id, result.status, result.message, analysed, rows)


async def run_paper(
    db: Any,
    paper: str,
    *,
    output_dir: Path | None,
    time_scale: float = 5e4,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PaperResult:
    """Every procedure of a paper (or those in `only`), one after another."""
    runs = []
    chosen = [p for p in procedures(paper) if not only or p.key in only]
    for procedure in chosen:
        if progress:
            progress(procedure.title)
        runs.append(
            await run_procedure(
                db, procedure, output_dir=output_dir, paper=paper, time_scale=time_scale
            )
        )
    return PaperResult(paper, runs, not_reproduced(paper))
