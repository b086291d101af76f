"""compile_plan: the order the compiler's parts run in, and the Plan they make."""

from __future__ import annotations

from typing import Any

from protocols.basis import CapacityBasis
from protocols.compile.blocks import block
from protocols.compile.finish import build_steps
from protocols.compile.report import Where
from protocols.compile.safety import check_required, read_safety
from protocols.compile.state import Compilation, Context, Source
from protocols.compile.steps import read_record
from protocols.errors import ProtocolError
from protocols.plan import Plan
from protocols.steps import Record


def compile_plan(
    source: Source,
    *,
    env: dict[str, Any],
    basis: CapacityBasis | None,
    counter_V: float,
    strict: bool,
) -> Plan:
    """`source` with parameters `env`, for a cell of `basis` (None: check without a cell).

    `strict` makes anything that needs a cell an error (binding); without it (checking a
    file) such currents stay NaN and are listed in `Plan.needs_cell`.
    """
    c = Compilation(source, env=env, basis=basis, counter_V=counter_V)
    top = Where(c.doc, "")
    c.units.resolve_basis(c.body.c_rate_basis, top.at("c_rate_basis"), c.env)
    if c.body.record is not None:
        c.record = read_record(c, c.body.record, top.at("record"), Record())
    read_safety(c, top)
    block(c, source.steps, Where(c.doc, "steps"), Context(c.env, c.root, c.new_block()))
    if not c.protos and not c.problems:
        c.fail(top.at("steps"), "a protocol needs at least one step")
    check_required(c, top)
    steps = build_steps(c)
    if strict and c.needs:
        first, what = c.needs[0]
        more = f" (and {len(c.needs) - 1} more places)" if len(c.needs) > 1 else ""
        c.fail(
            first,
            f"this protocol needs a cell: {what}{more}; bind it with a capacity basis"
            " (cellbench: --cell CELLFILE)",
        )
    if c.problems:
        raise ProtocolError(c.problems)
    return Plan(
        name=c.body.name,
        description=c.body.description,
        source_text=source.text,
        sha256=source.sha256,
        steps=steps,
        safety=c.safety,
        loops=list(c.loops),
        tags={name: index for name, (index, _) in c.root.tags.items()},
        record=c.record,
        basis=c.units.basis,
        counter_electrode_V=c.units.counter_V,
        parameters=dict(c.env),
        source=c.doc.file,
        needs_cell=[f"{w.path}: {what}" for w, what in c.needs],
        notes=list(c.notes),
    )
