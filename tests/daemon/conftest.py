"""Daemon test fixtures: helper paths, and a throwaway PostgreSQL database per test.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, trust auth), as in the storage
tests. Without it the PostgreSQL tests skip with a reason, except under CI=true, where they
fail.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers for starting simulator, daemon and broker processes.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "bench"))
sys.path.insert(0, str(HERE.parent / "telemetry"))

PG_HOST = os.environ.get("CELLBENCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CELLBENCH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CELLBENCH_TEST_PG_USER", "postgres")


def _admin():
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    try:
        with _admin() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server means "not available"
        reason = f"{PG_USER}@{PG_HOST}:{PG_PORT}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {reason}")
    name = f"cellbench_daemon_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
