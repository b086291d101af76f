"""Live slot state: one row per (bench, slot), upserted by the daemon that runs the slot."""

from __future__ import annotations

import time
from typing import Any

from sqlmodel import Session, col, select

from storage.errors import StorageError
from storage.models import SlotState
from storage.store.base import StoreBase, jsonable

SLOT_FIELDS = (
    "state",
    "job_id",
    "run_id",
    "step_index",
    "step_label",
    "cycle",
    "voltage_V",
    "current_A",
    "temperature_degC",
    "pressure_Pa",
    "progress",
    "remaining_s",
    "message",
)
_TEXT_FIELDS = ("step_label", "message")  # stored as "" rather than NULL


class SlotStore(StoreBase):
    """What each slot is doing now, for `cellbench status` and the web view."""

    def upsert_slot_state(self, bench: str, slot: str, **fields: Any) -> None:
        """Record a slot's latest live state; fields not given keep their stored values.

        Fields: state, job_id, run_id, step_index, step_label, cycle, voltage_V, current_A,
        temperature_degC, pressure_Pa, progress (0..1), remaining_s, message.
        """
        unknown = sorted(set(fields) - set(SLOT_FIELDS))
        if unknown:
            raise StorageError(
                f"Slot state has no field {unknown[0]!r}; known: {', '.join(SLOT_FIELDS)}."
            )
        clean = {key: jsonable(value) for key, value in fields.items()}  # numpy, NaN to None
        for key in _TEXT_FIELDS:
            if key in clean and clean[key] is None:
                clean[key] = ""

        def write(s: Session) -> None:
            row = s.exec(
                select(SlotState).where(SlotState.bench == bench, SlotState.slot == slot)
            ).first()
            if row is None:
                row = SlotState(bench=bench, slot=slot)
            for key, value in clean.items():
                setattr(row, key, value)
            row.updated_at = time.time()
            s.add(row)

        # A concurrent first insert for the same slot retries as an update.
        self._write_retrying(write, f"Slot {slot} of bench {bench}")

    def slot_states(self, bench: str | None = None) -> list[SlotState]:
        """The latest state of every slot (of one bench if given), by bench and slot."""
        query = select(SlotState).order_by(col(SlotState.bench), col(SlotState.slot))
        if bench is not None:
            query = query.where(SlotState.bench == bench)
        return self._all(query)
