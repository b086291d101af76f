"""Queue fixtures: every test that takes `db_url` or `store` runs on SQLite and PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (user postgres, trust auth), as in tests/storage:
one throwaway database per test session, tables emptied between tests. Without the server
the PostgreSQL cases skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from queue_fixtures import (
    BENCH_FILE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    PROTOCOLS,
    TABLES,
    admin_connect,
    protocol_text,
)

from scheduler import queue
from scheduler.bench import Bench
from storage import Store, open_store


@pytest.fixture
def protocol_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a test protocol to a file and return its path."""

    def write(key: str) -> Path:
        path = tmp_path / f"{key}.yaml"
        path.write_text(protocol_text(key), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def bench() -> Bench:
    """A1: EmStat4 in a chamber and press; A2: EmStat4 alone; B2: Keithley 2450 alone."""
    return Bench.load(BENCH_FILE)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def queue_pg_url() -> Iterator[str]:
    """The session's throwaway PostgreSQL database for queue tests (migrated on first open)."""
    try:
        with admin_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server means "not available"
        _unavailable(f"{PG_USER}@{PG_HOST}:{PG_PORT}: {str(exc).strip().splitlines()[0]}")
    name = f"cellbench_queue_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    open_store(url).close()
    yield url
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating takes longer than copying)."""
    path = tmp_path_factory.mktemp("queue-template") / "template.db"
    open_store(f"sqlite:///{path}").close()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with an empty, migrated schema on each engine."""
    if request.param == "sqlite":
        target = tmp_path / "queue.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    url = request.getfixturevalue("queue_pg_url")
    _empty_pg(url)
    yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open Store on each engine, with cell C1 (1C = 200 mA/g × 12 mg = 2.4 mA)."""
    s = open_store(db_url)
    s.add_cell("C1", chemistry="NCM811", active_mass_g=0.012, specific_capacity_mAh_g=200.0)
    yield s
    s.close()


@pytest.fixture
def submit(store: Store, bench: Bench) -> Callable[..., int]:
    """`queue.submit` on the test bench for cell C1 by kim: submit("rest", slot="A2", ...).

    The protocol is a test protocol's key, or a protocol's path or text; other keywords go to
    `queue.submit` as they are (cell_name and by too)."""

    def run(protocol: str | Path = "rest", **options: Any) -> int:
        source = protocol_text(protocol) if protocol in PROTOCOLS else protocol
        return queue.submit(
            store,
            bench,
            protocol_path_or_text=source,
            **{"cell_name": "C1", "by": "kim", **options},
        )

    return run


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `cellbench ARGS` in-process against the test database: (exit code, stdout, stderr)."""
    from scheduler.cli import main

    monkeypatch.setenv("CELLBENCH_DB", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
