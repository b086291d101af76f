"""The registry of instrument kinds: one module per kind, each declaring one `InstrumentKind`
(its bench-file config model, driver and simulator factories, capabilities with ranges, and
fault names). Everything that needs to know a kind asks here; nothing else dispatches on a
kind by `isinstance` or by its name.

Adding a kind: a driver module, a simulator module, their tests, and one module here whose
`KIND` is listed in `KINDS`.
"""

from __future__ import annotations

from typing import Any

from scheduler.errors import SchedulerError
from scheduler.kinds import emstat4, espec, keithley2450, neware, pressure_rig, watlow_f4t
from scheduler.kinds.base import (
    ROLES,
    Capabilities,
    InstrumentKind,
    InstrumentSettings,
    Role,
    SimContext,
    SimulatedInstrument,
)

# In this order in messages ("valid kinds: emstat4, keithley2450, espec, …").
KINDS: dict[str, InstrumentKind] = {
    k.kind: k
    for k in (
        emstat4.KIND,
        keithley2450.KIND,
        espec.KIND,
        watlow_f4t.KIND,
        pressure_rig.KIND,
        neware.KIND,
    )
}
_BY_CONFIG = {k.config: k for k in KINDS.values()}


def get(kind: str) -> InstrumentKind:
    """The registration of a kind named as in a bench file."""
    try:
        return KINDS[kind]
    except KeyError:
        raise SchedulerError(
            f"{kind!r} is not an instrument kind; valid kinds: {', '.join(KINDS)}"
        ) from None


def kind_of(config: Any) -> InstrumentKind:
    """The registration of one instrument's bench-file config."""
    try:
        return _BY_CONFIG[type(config)]
    except KeyError:
        raise SchedulerError(
            f"{type(config).__name__} is not the config of a registered instrument kind"
        ) from None


def with_role(role: Role) -> list[InstrumentKind]:
    """The kinds that can serve a slot as its potentiostat, chamber or rig."""
    return [k for k in KINDS.values() if k.role == role]


__all__ = [
    "KINDS",
    "ROLES",
    "Capabilities",
    "InstrumentKind",
    "InstrumentSettings",
    "Role",
    "SimContext",
    "SimulatedInstrument",
    "get",
    "kind_of",
    "with_role",
]
