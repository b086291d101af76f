"""Scheduler errors: bench files, jobs, runs; and pydantic's errors read as one sentence."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class SchedulerError(Exception):
    """Base class for problems the scheduler reports to the user."""


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted field, message) for each of pydantic's errors, without its 'Value error, '."""
    return [
        (".".join(str(p) for p in err["loc"]), str(err["msg"]).removeprefix("Value error, "))
        for err in exc.errors()
    ]


def explain(exc: ValidationError) -> str:
    """Pydantic errors as one sentence naming each key."""
    return "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in field_errors(exc))
