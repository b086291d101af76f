"""Schema migrations: an old database upgrades in place, and migrations match the models."""

from __future__ import annotations

import time

import numpy as np
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import open_store
from storage.chunks import encode_chunk
from storage.engine import create_engine
from storage.migrate import current_revision, head_revision, upgrade

OUR_TABLES = {
    "instruments",
    "cells",
    "protocols",
    "jobs",
    "job_transitions",
    "runs",
    "steps",
    "measurement_chunks",
    "spectra",
    "events",
    "analyses",
}


def test_old_database_is_migrated_forward_with_its_data(fresh_db_url: str) -> None:
    engine, name = create_engine(fresh_db_url)
    upgrade(engine, name, "0001")  # the first released schema
    assert current_revision(engine) == "0001"
    samples = {
        "test_time_s": np.arange(5.0),
        "voltage_V": np.array([3.0, 3.1, 3.2, 3.3, 3.4]),
        "record_index": np.arange(1, 6),
        "step_count": np.zeros(5, dtype=np.int64),
    }
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO cells (name, created_at) VALUES ('old-cell', 1.0)"))
        conn.execute(
            sa.text(
                "INSERT INTO runs (cell_id, slot, bench, bench_text, capacity_basis, "
                "software_version, source, status, message, started_at) VALUES "
                "(1, 'ch1', 'b', '', '2.0 mAh', '0.0.9', 'cellbench', 'completed', '', :t)"
            ),
            {"t": time.time()},
        )
        conn.execute(
            sa.text(
                "INSERT INTO measurement_chunks (run_id, seq, n_rows, first_record, last_record,"
                " t_first_s, t_last_s, step_count_first, step_count_last, payload, written_at)"
                " VALUES (1, 0, 5, 1, 5, 0.0, 4.0, 0, 0, :p, 1.0)"
            ),
            {"p": encode_chunk(samples)},
        )
    engine.dispose()

    with open_store(fresh_db_url) as store:  # opening upgrades to head
        assert current_revision(store.engine) == head_revision() != "0001"
        run = store.get_run(1)
        assert run.host == "" and run.capacity_basis == "2.0 mAh"
        assert store.get_cell(run.cell_id).name == "old-cell"
        data = store.read_samples(1)
        np.testing.assert_allclose(data["voltage_V"], [3.0, 3.1, 3.2, 3.3, 3.4])
        assert np.isnan(data["current_A"]).all()  # columns absent from an old chunk read as NaN
        new = store.start_run(cell_id=1, protocol_id=None, slot="ch1")
        assert store.get_run(new).host


def test_migrations_produce_exactly_the_models(fresh_db_url: str) -> None:
    with open_store(fresh_db_url) as store, store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(ctx, SQLModel.metadata) if _table_of(d) in OUR_TABLES]
    assert diffs == []


def test_reopening_does_not_write(db_url: str) -> None:
    open_store(db_url).close()
    with open_store(db_url) as store:
        assert current_revision(store.engine) == head_revision()


def _table_of(diff) -> str | None:
    """The table an alembic diff entry is about."""
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        if isinstance(part, str) and part in OUR_TABLES:
            return part
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        if getattr(part, "name", None) in OUR_TABLES:
            return part.name
    return None
