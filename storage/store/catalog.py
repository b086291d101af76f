"""What a run is made of: the instruments seen, the cells under test and the protocols' texts."""

from __future__ import annotations

import math
import time
from typing import Any

from sqlmodel import Session, col, select

from storage.errors import StorageError
from storage.models import Cell, Instrument, Protocol
from storage.store.base import StoreBase, jsonable, row_id, sha256_text

_INSTRUMENT_FIELDS = ("name", "kind", "vendor", "model", "serial", "firmware", "endpoint")


class CatalogStore(StoreBase):
    """Instruments by identity, cells by name, protocols by the sha256 of their text."""

    # -- instruments ----------------------------------------------------------------------
    def upsert_instrument(self, info: dict[str, Any]) -> int:
        """Record an instrument by vendor|model|serial (or name); update firmware and endpoint."""
        fields = {k: str(info.get(k) or "") for k in _INSTRUMENT_FIELDS}
        identity = (
            "|".join([fields["vendor"], fields["model"], fields["serial"]])
            if fields["serial"]
            else fields["name"] or "|".join([fields["vendor"], fields["model"]])
        )
        now = time.time()
        caps = jsonable(info.get("capabilities")) if info.get("capabilities") else None

        def write(s: Session) -> int:
            row = s.exec(select(Instrument).where(Instrument.identity == identity)).first()
            if row is None:
                row = Instrument(identity=identity, first_seen_at=now)
            for k, v in fields.items():
                if v:
                    setattr(row, k, v)
            if caps is not None:
                row.capabilities = caps
            row.last_seen_at = now
            s.add(row)
            s.flush()
            return row_id(row)

        return self._write_retrying(write, f"Instrument {identity}")

    def list_instruments(self) -> list[Instrument]:
        """Every instrument ever seen, by id."""
        return self._all(select(Instrument).order_by(col(Instrument.id)))

    # -- cells ----------------------------------------------------------------------------
    def add_cell(
        self,
        name: str,
        *,
        chemistry: str | None = None,
        active_mass_g: float | None = None,
        area_cm2: float | None = None,
        loading_mg_cm2: float | None = None,
        specific_capacity_mAh_g: float | None = None,
        nominal_capacity_mAh: float | None = None,
        extra: dict | None = None,
    ) -> int:
        """Create the cell, or update the fields given for an existing cell of that name."""
        name = name.strip()
        if not name:
            raise StorageError(f"A cell needs a non-empty name (database {self.name}).")
        amounts = {
            "active_mass_g": active_mass_g,
            "area_cm2": area_cm2,
            "loading_mg_cm2": loading_mg_cm2,
            "specific_capacity_mAh_g": specific_capacity_mAh_g,
            "nominal_capacity_mAh": nominal_capacity_mAh,
        }
        for key, value in amounts.items():
            if value is not None:
                if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                    raise StorageError(
                        f"Cell {name}: {key} must be a positive number, not {value!r}."
                    )
        given = {
            "chemistry": chemistry,
            **amounts,
            "extra": jsonable(extra) if extra is not None else None,
        }

        def write(s: Session) -> int:
            row = s.exec(select(Cell).where(Cell.name == name)).first()
            if row is None:
                row = Cell(name=name, created_at=time.time())
            for key, value in given.items():
                if value is not None:
                    setattr(row, key, value)
            s.add(row)
            s.flush()
            return row_id(row)

        return self._write_retrying(write, f"Cell {name}")

    def get_cell(self, name_or_id: str | int) -> Cell:
        """A cell by name, or by id (an int or a string of digits that names no cell)."""
        with self.session() as s:
            if isinstance(name_or_id, str):
                row = s.exec(select(Cell).where(Cell.name == name_or_id.strip())).first()
                if row is None and name_or_id.strip().isdigit():
                    row = s.get(Cell, int(name_or_id))
            else:
                row = s.get(Cell, int(name_or_id))
        if row is None:
            raise StorageError(f"There is no cell {name_or_id!r} in database {self.name}.")
        return row

    def list_cells(self) -> list[Cell]:
        """Every cell, by name."""
        return self._all(select(Cell).order_by(col(Cell.name)))

    # -- protocols ------------------------------------------------------------------------
    def add_protocol(self, name: str, source_text: str) -> int:
        """Store a protocol's source text; the same text (same sha256) returns the same id."""
        digest = sha256_text(source_text)

        def write(s: Session) -> int:
            row = s.exec(select(Protocol).where(Protocol.sha256 == digest)).first()
            if row is None:
                row = Protocol(
                    name=name, sha256=digest, source_text=source_text, created_at=time.time()
                )
                s.add(row)
                s.flush()
            return row_id(row)

        return self._write_retrying(write, f"Protocol {name}")

    def get_protocol(self, protocol_id: int) -> Protocol:
        """A protocol with its source text."""
        return self._get(Protocol, protocol_id, "protocol")
