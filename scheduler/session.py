"""Bind a protocol to a cell, record the run's provenance, and run it on a channel."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from scheduler.binding import Binding, CellInfo, bind
from scheduler.run_state import Progress, RunResult
from scheduler.runner import Runner
from storage import AsyncStore


def software_version() -> str:
    try:
        return version("cellbench")
    except PackageNotFoundError:
        return "unknown"


async def prepare_run(
    db: Any,
    binding: Binding,
    potentiostat: Any,
    *,
    slot: str = "sim-1",
    bench: str = "simulated",
    bench_text: str = "",
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    environment: Any = None,
    job_id: int | None = None,
    instruments: list[dict[str, Any]] | None = None,
    runner_class: Any = Runner,
) -> tuple[int, Any]:
    """Store the bound run's provenance and return its Runner (`db`: a Store or its
    AsyncStore; either way the database is reached off the event loop)."""
    db = AsyncStore.of(db)
    protocol, cell, used_basis = binding.protocol, binding.cell, binding.basis
    identity = await potentiostat.identify()
    capabilities = await potentiostat.capabilities()

    def _prepare(store: Any) -> int:
        cell_id = store.add_cell(cell.name, **cell.store_fields())
        protocol_id = store.add_protocol(protocol.name, protocol.source_text)
        return store.start_run(
            cell_id=cell_id,
            protocol_id=protocol_id,
            slot=slot,
            bench=bench,
            bench_text=bench_text,
            instruments=[
                {
                    "role": "potentiostat",
                    "vendor": identity.vendor,
                    "model": identity.model,
                    "serial": identity.serial,
                    "firmware": identity.firmware,
                    "on_device_limits": capabilities.on_device_limits,
                },
                *(instruments or []),
            ],
            capacity_basis=used_basis.description if used_basis else "",
            software_version=software_version(),
            job_id=job_id,
            metadata={**(metadata or {}), "overrides": binding.overrides},
        )

    run_id = await db.with_store(_prepare)
    runner = runner_class(  # a Runner, or a ScheduleRunner for a cycler that runs schedules
        binding.plan,
        potentiostat,
        db,
        run_id,
        one_c_A=binding.one_c_A,
        progress=progress,
        environment=environment,
    )
    return run_id, runner


async def run_protocol(
    db: Any,
    protocol: Any,
    cell: CellInfo,
    potentiostat: Any,
    *,
    overrides: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[int, RunResult]:
    """Bind the protocol to the cell, store the run's provenance, and run it to its end.

    Takes the options of `prepare_run`.
    """
    binding = bind(protocol, cell, overrides)
    run_id, runner = await prepare_run(db, binding, potentiostat, **options)
    return run_id, await runner.run()
