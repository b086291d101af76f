"""Options and readings shared by the commands: the database, JSON output, who, and local time."""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any

import typer

from scheduler.errors import SchedulerError

DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="CELLBENCH_DB",
    help="Database URL (sqlite:///path or postgresql://...); default: the per-user SQLite file.",
)
BENCH_DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="CELLBENCH_DB",
    help="Database URL (sqlite:///path or postgresql://...); default: the bench file's "
    "[database] url, else the per-user SQLite file.",
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
BY_OPTION = typer.Option(None, "--by", help="Who is doing this (default: your login name).")


def open_db(db: str | None, bench: Any = None) -> Any:
    """The store at `db`, else the bench file's database, else the per-user SQLite file."""
    from storage import open_store

    if db is None and bench is not None and bench.database is not None:
        db = bench.database.url
    return open_store(stored_url(db))


def stored_url(db: str | None) -> str | None:
    """`db`, refused when it is an in-memory database: what a command stores there (a cell,
    a job, a run) would be gone when the command exits."""
    from storage.engine import in_memory, resolve_url

    if in_memory(resolve_url(db)):
        raise SchedulerError(
            f"database {resolve_url(db)!r} is an in-memory SQLite database, so nothing stored "
            "there outlives this command; give a file (sqlite:///path/cellbench.db) or a "
            "PostgreSQL URL"
        )
    return db


def default_user() -> str:
    """The login name, for the history of every queue change."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment (some containers)
        return "unknown"


def local_time(ts: float | None) -> str | None:
    """A Unix time in the local zone, as people read it."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def short_time(ts: float | None, now: float) -> str:
    """Local time, with the date only when it is not today."""
    if ts is None:
        return "-"
    moment = dt.datetime.fromtimestamp(ts).astimezone()
    today = dt.datetime.fromtimestamp(now).astimezone().date()
    return moment.strftime("%H:%M" if moment.date() == today else "%a %d %b %H:%M")
