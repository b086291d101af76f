"""How a job binds to a cell: (protocol, cell, overrides) -> the bound plan and its 1C.

Submission, a daemon's start and resume, `sim run`, the demo and the paper runs all bind
through `bind`, so the window a submission checked is the window the cell runs in: the
safety limits converted to the cell's counter electrode, the currents from the one 1C rule
(`protocols.capacity_basis`), the same overrides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from protocols import CapacityBasis, Plan, Protocol, capacity_basis
from scheduler.errors import SchedulerError
from scheduler.jobs import JobParams

# The capacity fields a stored cell and a cell description file name as CellInfo does.
_SAME_NAMED = ("area_cm2", "loading_mg_cm2", "specific_capacity_mAh_g", "nominal_capacity_mAh")


@dataclasses.dataclass(frozen=True)
class CellInfo:
    """What binding and the run need to know about the cell under test."""

    name: str
    chemistry: str = ""
    active_mass_g: float | None = None
    area_cm2: float | None = None
    loading_mg_cm2: float | None = None
    specific_capacity_mAh_g: float | None = None
    nominal_capacity_mAh: float | None = None
    areal_capacity_mAh_cm2: float | None = None
    counter_electrode: str = "Li"
    counter_electrode_V: float = 0.0  # vs Li/Li+: voltages of the protocol are shifted by it

    @classmethod
    def from_row(cls, row: Any) -> CellInfo:
        """A stored cell (areal capacity and counter electrode ride in its `extra`)."""
        extra = row.extra or {}
        areal = extra.get("areal_capacity_mAh_cm2")
        counter_V = extra.get("counter_electrode_V")
        return cls._with_capacity_of(
            row,
            active_mass_g=row.active_mass_g,
            areal_capacity_mAh_cm2=float(areal) if areal is not None else None,
            counter_electrode=str(extra.get("counter_electrode") or "Li"),
            counter_electrode_V=float(counter_V) if counter_V is not None else 0.0,
        )

    @classmethod
    def from_spec(cls, spec: Any) -> CellInfo:
        """A cell description file (`protocols.CellSpec`)."""
        return cls._with_capacity_of(
            spec,
            active_mass_g=spec.active_mass_mg / 1000.0 if spec.active_mass_mg else None,
            areal_capacity_mAh_cm2=spec.areal_capacity_mAh_cm2,
            counter_electrode=spec.counter_electrode,
            counter_electrode_V=spec.counter_electrode_V or 0.0,
        )

    @classmethod
    def _with_capacity_of(cls, source: Any, **fields: Any) -> CellInfo:
        """A CellInfo taking the name, chemistry and the capacity fields a stored cell and a
        cell file both name alike from `source`, the rest from `fields`."""
        return cls(
            name=source.name,
            chemistry=source.chemistry or "",
            **{key: getattr(source, key) for key in _SAME_NAMED},
            **fields,
        )

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

    def basis(self) -> CapacityBasis | None:
        """What 1C is for this cell, or None for a cell that stores no charge."""
        return capacity_basis(
            active_mass_g=self.active_mass_g,
            areal_capacity_mAh_cm2=self.areal_capacity_mAh_cm2,
            **{name: getattr(self, name) for name in _SAME_NAMED},
        )

    def store_fields(self) -> dict[str, Any]:
        """The Store's cell columns (areal capacity and counter electrode in `extra`)."""
        extra: dict[str, Any] = {}
        if self.areal_capacity_mAh_cm2 is not None:
            extra["areal_capacity_mAh_cm2"] = self.areal_capacity_mAh_cm2
        if self.counter_electrode.strip().lower() != "li" or self.counter_electrode_V:
            extra["counter_electrode"] = self.counter_electrode
            extra["counter_electrode_V"] = self.counter_electrode_V
        return {
            "chemistry": self.chemistry or None,
            "active_mass_g": self.active_mass_g,
            **{name: getattr(self, name) for name in _SAME_NAMED},
            "extra": extra or None,
        }


@dataclasses.dataclass(frozen=True)
class Binding:
    """A protocol bound to one cell: the plan to run and the 1C it was resolved with."""

    protocol: Protocol
    cell: CellInfo
    plan: Plan
    basis: CapacityBasis | None  # the protocol's own c_rate_basis wins over the cell's
    overrides: dict[str, Any]

    @property
    def one_c_A(self) -> float | None:
        return self.basis.one_c_A if self.basis else None


def bind(protocol: Protocol, cell: CellInfo, overrides: dict[str, Any] | None = None) -> Binding:
    """Bind `protocol` to `cell` with the job's `overrides`; the one way a plan is made to run.

    Refuses, in one sentence, a protocol whose currents are relative to a cell that states
    no capacity basis.
    """
    basis = cell.basis()
    if basis is None and protocol.needs_cell:
        raise SchedulerError(
            f"protocol {protocol.name} states currents relative to the cell, but cell "
            f"{cell.name} has no capacity basis (give its active mass and specific capacity, "
            "its area and areal capacity, or its nominal capacity)"
        )
    plan = protocol.bind(
        basis, overrides=overrides or None, counter_electrode_V=cell.counter_electrode_V
    )
    return Binding(protocol, cell, plan, plan.basis or basis, dict(overrides or {}))


def bind_job(store: Any, job: Any) -> Binding:
    """Bind a queued job as it was submitted: the protocol text stored at submission (an
    edited file on disk does not change a queued job), its cell and its overrides."""
    from protocols import loads

    if job.protocol_id is None or job.cell_id is None:
        raise SchedulerError(f"job {job.id} names no protocol or no cell")
    stored = store.get_protocol(job.protocol_id)
    params = JobParams.of(job)
    protocol = loads(stored.source_text, source=params.protocol_source or stored.name)
    cell = CellInfo.from_row(store.get_cell(job.cell_id))
    return bind(protocol, cell, params.overrides)
