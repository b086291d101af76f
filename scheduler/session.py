"""Bind a protocol to a cell, record the run's provenance, and run it on a channel."""

from __future__ import annotations

import asyncio
import dataclasses
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from protocols import CapacityBasis
from scheduler.runner import Progress, Runner, RunResult


def software_version() -> str:
    try:
        return version("cellbench")
    except PackageNotFoundError:
        return "unknown"


@dataclasses.dataclass
class CellInfo:
    """What the run needs to know about the cell under test."""

    name: str
    chemistry: str = ""
    active_mass_g: float | None = None
    area_cm2: float | None = None
    loading_mg_cm2: float | None = None
    specific_capacity_mAh_g: float | None = None
    nominal_capacity_mAh: float | None = None

    @classmethod
    def from_preset(cls, params: Any, name: str, chemistry: str = "NCM811 | Li") -> CellInfo:
        """The cell a simulator preset describes, with its 1C basis (mA/g × active mass; an
        electrolyte-only cell's preset gives its Li inventory, or no capacity at all)."""
        electrolyte = hasattr(params, "kind")
        return cls(
            name=name,
            chemistry=params.chemistry if electrolyte else chemistry,
            active_mass_g=getattr(params, "active_mass_g", None),
            area_cm2=params.area_cm2,
            loading_mg_cm2=getattr(params, "loading_mg_cm2", None),
            specific_capacity_mAh_g=getattr(params, "c_rate_basis_mAh_g", None),
            nominal_capacity_mAh=getattr(params, "nominal_capacity_mAh", None),
        )

    def basis(self) -> CapacityBasis:
        if self.active_mass_g and self.specific_capacity_mAh_g:
            return CapacityBasis.from_specific(
                self.active_mass_g, self.specific_capacity_mAh_g, area_cm2=self.area_cm2
            )
        if self.nominal_capacity_mAh:
            return CapacityBasis.from_nominal(self.nominal_capacity_mAh, area_cm2=self.area_cm2)
        raise ValueError(f"cell {self.name!r} has no capacity basis")

    def basis_if_known(self) -> CapacityBasis | None:
        """The capacity basis, or None for a cell that stores no charge (a blocking cell)."""
        try:
            return self.basis()
        except ValueError:
            return None


async def prepare_run(
    store: Any,
    protocol: Any,
    cell: CellInfo,
    potentiostat: Any,
    *,
    slot: str = "sim-1",
    bench: str = "simulated",
    bench_text: str = "",
    progress: Progress | None = None,
    metadata: dict[str, Any] | None = None,
    environment: Any = None,
    overrides: dict[str, Any] | None = None,
    job_id: int | None = None,
    instruments: list[dict[str, Any]] | None = None,
    basis: CapacityBasis | None = None,
) -> tuple[int, Runner]:
    """Bind the protocol to the cell, store the run's provenance, and return its Runner.

    `basis` overrides the capacity basis derived from `cell` (e.g. an areal-capacity cell).
    """
    basis = basis or cell.basis_if_known()  # without one, binding refuses C-rate steps
    plan = protocol.bind(basis, overrides=overrides)
    identity = await potentiostat.identify()
    capabilities = await potentiostat.capabilities()
    used_basis = plan.basis or basis  # a protocol's own c_rate_basis wins over the cell's

    def _prepare() -> int:
        cell_id = store.add_cell(
            cell.name,
            chemistry=cell.chemistry or None,
            active_mass_g=cell.active_mass_g,
            area_cm2=cell.area_cm2,
            loading_mg_cm2=cell.loading_mg_cm2,
            specific_capacity_mAh_g=cell.specific_capacity_mAh_g,
            nominal_capacity_mAh=cell.nominal_capacity_mAh,
        )
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
            metadata={**(metadata or {}), "overrides": overrides or {}},
        )

    run_id = await asyncio.to_thread(_prepare)
    runner = Runner(
        plan,
        potentiostat,
        store,
        run_id,
        one_c_A=used_basis.one_c_A if used_basis else None,
        progress=progress,
        environment=environment,
    )
    return run_id, runner


async def run_protocol(
    store: Any, protocol: Any, cell: CellInfo, potentiostat: Any, **options: Any
) -> tuple[int, RunResult]:
    """Store the cell, protocol and run provenance, then run the protocol to its end.

    Takes the same options as `prepare_run`.
    """
    run_id, runner = await prepare_run(store, protocol, cell, potentiostat, **options)
    return run_id, await runner.run()
