"""Database URLs and engines: SQLite (default, WAL) or PostgreSQL (psycopg 3).

SQLite fsync policy: WAL with ``synchronous=FULL``, so every commit is fsynced before it is
acknowledged and survives a power cut, not only a process crash. Samples commit once per
flushed batch (at most once a second per writer), so this costs one fsync per second per run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from platformdirs import user_data_dir
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from storage.errors import StorageError

ENV_VAR = "CELLBENCH_DB"
BUSY_TIMEOUT_MS = 30_000
# Extra query options we read from a sqlite URL ourselves (SQLite itself would reject them).
_SQLITE_OPTIONS = ("max_page_count",)
WRITE_OPTION = "cellbench_write"
"""Execution option marking a transaction that will write (BEGIN IMMEDIATE on SQLite)."""


def default_url() -> str:
    """The per-user SQLite file: <user data dir>/cellbench/cellbench.db."""
    return f"sqlite:///{Path(user_data_dir('cellbench')) / 'cellbench.db'}"


def resolve_url(url: str | None) -> str:
    """An explicit URL, else $CELLBENCH_DB, else the per-user SQLite file."""
    if url:
        return url
    return os.environ.get(ENV_VAR) or default_url()


def describe(url: URL) -> str:
    """How error messages name a database: the file path, or the URL without its password."""
    if url.get_backend_name() == "sqlite":
        return str(url.database or ":memory:")
    return url.render_as_string(hide_password=True).replace("+psycopg", "")


def parse_url(url: str) -> URL:
    """Parse and normalise: plain ``postgresql://`` uses psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"Database URL {url!r} is not valid ({exc}).") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise StorageError(
            f"Database URL {url!r} uses {backend!r}; cellbench supports sqlite:/// and postgresql://."
        )
    return parsed


def in_memory(url: str) -> bool:
    """Does `url` name an in-memory SQLite database (gone when the process exits)?"""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return database in ("", ":memory:") or "mode=memory" in database + str(parsed.query)


def create_engine(url: str) -> tuple[Engine, str]:
    """Make an engine for `url` and return it with the database's printable name."""
    parsed = parse_url(url)
    name = describe(parsed)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, name), name
    engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return engine, name


def _last(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else value[-1]


def _sqlite_engine(url: URL, name: str) -> Engine:
    query = dict(url.query)
    # A repeated option (a tuple of values) counts by its last value.
    options = {k: _last(query.pop(k)) for k in _SQLITE_OPTIONS if k in query}
    url = url.set(query=query)
    database = url.database
    if database and database != ":memory:" and not query.get("uri"):
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"Database {name} cannot be created: {exc.strerror or exc} in {path.parent}."
            ) from None
        url = url.set(database=str(path))
    engine = sa.create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    max_pages = options.get("max_page_count")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised via engine
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            cur.execute("PRAGMA journal_mode=WAL")
        except Exception:  # a read-only file cannot switch mode; reading still works
            pass
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        if max_pages:
            cur.execute(f"PRAGMA max_page_count={int(max_pages)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # pragma: no cover - exercised via engine
        # Writers take the write lock up front, so busy_timeout applies instead of a
        # lock-upgrade failure; readers never block writers (WAL).
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def explain(exc: BaseException, name: str) -> str:
    """One sentence for a database failure, naming the database."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc) else ""
    low = text.lower()
    if "database or disk is full" in low or "could not extend file" in low or "no space" in low:
        return (
            f"Database {name} is full (no space left on its disk or its size limit reached); "
            "the last write was rolled back."
        )
    if "readonly database" in low or "read-only" in low or "read only" in low:
        return f"Database {name} is read-only; cellbench cannot write to it."
    if "unable to open database file" in low:
        return f"Database {name} cannot be opened (check the path and its permissions)."
    if "file is not a database" in low or "malformed" in low:
        return f"Database {name} is not a valid cellbench database or is damaged ({text})."
    if "connection refused" in low or "could not connect" in low or "connection failed" in low:
        return f"Database {name} is not reachable ({text})."
    if "database is locked" in low:
        return f"Database {name} stayed locked by another process for {BUSY_TIMEOUT_MS // 1000} s."
    return f"Database {name} failed: {text or type(exc).__name__}."


@contextmanager
def translate_errors(name: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into one-sentence StorageErrors."""
    try:
        yield
    except StorageError:
        raise
    except (DBAPIError, SQLAlchemyError, OSError) as exc:
        raise StorageError(explain(exc, name)) from exc
