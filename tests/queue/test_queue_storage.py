"""Storage for the queue: migration 0003 (job bench, alarm acknowledgement, slot states)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import open_store
from storage.engine import create_engine
from storage.migrate import current_revision, head_revision, upgrade


def test_0002_database_migrates_with_its_jobs_and_events(fresh_db_url: str) -> None:
    engine, name = create_engine(fresh_db_url)
    upgrade(engine, name, "0002")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO jobs (state, priority, slot, submitted_by, submitted_at, updated_at, "
                "message) VALUES ('queued', 3, 'A1', 'kim', 1.0, 1.0, '')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (at, kind, severity, message) VALUES "
                "(2.0, 'over_temperature', 'alarm', 'chamber at 91 C')"
            )
        )
    engine.dispose()
    with open_store(fresh_db_url) as store:
        assert current_revision(store.engine) == head_revision() != "0002"
        job = store.get_job(1)
        assert (job.state, job.priority, job.slot, job.bench) == ("queued", 3, "A1", None)
        [alarm] = store.active_alarms()  # an old alarm is active until acknowledged
        assert alarm.acked_at is None and alarm.bench is None
        assert [j.id for j in store.list_jobs(bench="any-bench")] == [1]  # any bench's job
        store.ack_alarms(None, by="lee")
        assert store.active_alarms() == []
        store.upsert_slot_state("b1", "A1", state="idle")
        assert [s.slot for s in store.slot_states()] == ["A1"]


def test_migrations_produce_exactly_the_models(fresh_db_url: str) -> None:
    with open_store(fresh_db_url) as store, store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, SQLModel.metadata)
    ours = {"jobs", "events", "slot_states"}
    assert [d for d in diffs if _table_of(d) in ours] == []
    assert "slot_states" in sa.inspect(store.engine).get_table_names()


def _table_of(diff) -> str | None:
    """The table an alembic diff entry is about."""
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        if isinstance(part, str) and part in {"jobs", "events", "slot_states"}:
            return part
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        name = getattr(part, "name", None)
        if name in {"jobs", "events", "slot_states"}:
            return name
    return None
