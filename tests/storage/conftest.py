"""Storage fixtures: every test that takes `db_url` or `store` runs on SQLite and PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, trust auth). One throwaway database is
created per test session and dropped afterwards; tables are emptied between tests. Without the
server the PostgreSQL cases skip with a reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from storage import Store, open_store

PG_HOST = os.environ.get("CELLBENCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CELLBENCH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CELLBENCH_TEST_PG_USER", "postgres")
TABLES = (
    "analyses, events, spectra, measurement_chunks, steps, runs, job_transitions, jobs, "
    "protocols, cells, instruments"
)


def _admin_connect():
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Callable[[], str]]:
    """A factory of throwaway databases on the test server; all are dropped at session end."""
    try:
        with _admin_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server means "not available"
        _unavailable(f"{PG_USER}@{PG_HOST}:{PG_PORT}: {str(exc).strip().splitlines()[0]}")
    created: list[str] = []

    def make() -> str:
        name = f"cellbench_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with _admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    yield make
    with _admin_connect() as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_session_url(pg_server: Callable[[], str]) -> str:
    """The session's shared throwaway PostgreSQL database (migrated on first open)."""
    url = pg_server()
    open_store(url).close()
    return url


def _empty_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database URL with an empty, migrated schema on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cellbench.db'}"
        return
    url = request.getfixturevalue("pg_session_url")
    _empty_pg(url)
    yield url
    _empty_pg(url)


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, tmp_path, db_url: str) -> str:
    """A brand-new database (no schema at all) on the same engine as `db_url`."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("pg_server")()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open Store on each engine."""
    s = open_store(db_url)
    yield s
    s.close()
