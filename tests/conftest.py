"""Database fixtures: every test that takes `db_url` or `store` runs on SQLite and PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, trust auth; CELLBENCH_TEST_PG_HOST,
_PORT and _USER override). One throwaway database is created per test session, shared by every
test and emptied before each one; `pg_server` makes more (dropped at session end). Without the
server the PostgreSQL cases skip with a reason, except under CI=true, where they fail.

SQLite tests get a copy of one migrated file (copying is faster than migrating each time).
Storage is imported inside the fixtures, so tests that use none of them do not load SQLAlchemy.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from storage import Store

PG_HOST = os.environ.get("CELLBENCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CELLBENCH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CELLBENCH_TEST_PG_USER", "postgres")


def _pg_url(dbname: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


def _admin_connect() -> Any:
    import psycopg

    return psycopg.connect(_pg_url("postgres"), autocommit=True, connect_timeout=3)


def _require_server() -> None:
    """Skip (fail under CI=true) when the test server cannot be reached."""
    try:
        with _admin_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server means "not available"
        reason = f"{PG_USER}@{PG_HOST}:{PG_PORT}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {reason}")


def _empty_pg(url: str) -> None:
    """Empty every table of the schema (the list comes from the models, so it cannot drift)."""
    import psycopg
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)

    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Callable[[], str]]:
    """A factory of throwaway databases on the test server; all are dropped at session end."""
    _require_server()
    created: list[str] = []

    def make() -> str:
        name = f"cellbench_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with _admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _pg_url(name)

    yield make
    with _admin_connect() as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_session_url(pg_server: Callable[[], str]) -> str:
    """The session's shared throwaway PostgreSQL database (migrated on first open)."""
    from storage import open_store

    url = pg_server()
    open_store(url).close()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy."""
    from storage import open_store

    path = tmp_path_factory.mktemp("db-template") / "template.db"
    open_store(f"sqlite:///{path}").close()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with an empty, migrated schema on each engine."""
    if request.param == "sqlite":
        target = tmp_path / "cellbench.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_session_url")
    _empty_pg(url)
    return url


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> str:
    """A brand-new database (no schema at all) on the same engine as `db_url`."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    make: Callable[[], str] = request.getfixturevalue("pg_server")
    return make()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open Store on each engine."""
    from storage import open_store

    s = open_store(db_url)
    yield s
    s.close()
