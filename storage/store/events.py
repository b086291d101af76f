"""The bench's log: events (trips, reconnects, operator actions) and the alarms among them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from storage.models import Event, Run
from storage.store.base import StoreBase, json_or_none


class EventStore(StoreBase):
    """Events oldest first; an event of severity "alarm" stays active until acknowledged."""

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        run_id: int | None = None,
        severity: str = "info",
        data: dict | None = None,
        bench: str | None = None,
        slot: str | None = None,
    ) -> int:
        """Log a safety trip, reconnect or operator action (optionally tied to a run).

        Severity "alarm" latches: the event stays active until `ack_alarms` acknowledges it.
        """
        return self._add(
            Event(
                run_id=run_id,
                at=time.time(),
                kind=kind,
                severity=severity,
                message=message,
                data=json_or_none(data),
                bench=bench,
                slot=slot,
            )
        )

    def get_event(self, event_id: int) -> Event:
        """One event (or alarm)."""
        return self._get(Event, event_id, "event")

    def events(self, run_id: int | None = None, *, limit: int | None = None) -> list[Event]:
        """Events oldest first; only a run's when `run_id` is given."""
        query = select(Event).order_by(col(Event.id).desc())
        if run_id is not None:
            query = query.where(Event.run_id == run_id)
        return self._last(query, limit)

    def _alarms_query(self, bench: str | None) -> Any:
        query = (
            select(Event)
            .where(Event.severity == "alarm", col(Event.acked_at).is_(None))
            .order_by(col(Event.id))
        )
        if bench is not None:
            # An alarm belongs to a bench by its own column, else through its run.
            runs_of_bench = select(Run.id).where(Run.bench == bench)
            query = query.where(
                sa.or_(
                    col(Event.bench) == bench,
                    sa.and_(col(Event.bench).is_(None), col(Event.run_id).in_(runs_of_bench)),
                )
            )
        return query

    def active_alarms(self, bench: str | None = None) -> list[Event]:
        """Latched alarms nobody has acknowledged yet, oldest first (one bench's if given)."""
        return self._all(self._alarms_query(bench))

    def ack_alarms(
        self, ids: Sequence[int] | None, *, by: str, bench: str | None = None
    ) -> list[Event]:
        """Acknowledge the given alarms (or every active one, of one bench if given).

        Returns the alarms this call acknowledged; an alarm acknowledged before is left as
        it was (its first acknowledgement is the record).
        """
        now = time.time()
        with self.session(write=True) as s:
            if ids is not None:
                rows = []
                for alarm_id in ids:
                    row = s.get(Event, alarm_id, with_for_update=True)
                    if row is None or row.severity != "alarm":
                        raise self._missing("alarm", alarm_id)
                    if row.acked_at is None:
                        rows.append(row)
            else:
                rows = list(s.exec(self._alarms_query(bench).with_for_update()))
            for row in rows:
                row.acked_at, row.acked_by = now, by
                s.add(row)
            return rows
