"""What every part of the Store shares: sessions that name their database, and small row helpers."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from storage.engine import WRITE_OPTION, translate_errors
from storage.errors import StorageError

T = TypeVar("T", bound=SQLModel)
R = TypeVar("R")


def jsonable(value: Any) -> Any:
    """Plain JSON for any engine: numpy to Python, NaN/inf to None (PostgreSQL rejects NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def json_or_none(value: Any) -> Any:
    """`jsonable(value)`, keeping None as None (an optional JSON column left empty)."""
    return None if value is None else jsonable(value)


def sha256_text(text: str) -> str:
    """The protocol hash: sha256 of the UTF-8 source text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_id(row: SQLModel) -> int:
    """The primary key of a flushed row."""
    key = getattr(row, "id", None)
    assert isinstance(key, int), f"{type(row).__name__} row has no id after flush"
    return key


class StoreBase:
    """One database's engine and name; the parts of `Store` build on these helpers."""

    def __init__(self, engine: Engine, name: str, url: str) -> None:
        self.engine = engine
        self.name = name
        self.url = url
        self._writer_engine = engine.execution_options(**{WRITE_OPTION: True})

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session whose failures become one-sentence StorageErrors naming this database."""
        bind = self._writer_engine if write else self.engine
        with translate_errors(self.name), Session(bind, expire_on_commit=False) as s:
            yield s
            if write:
                s.commit()

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers for the parts --------------------------------------------------------------
    def _missing(self, what: str, key: object) -> StorageError:
        return StorageError(f"There is no {what} {key} in database {self.name}.")

    def _fetch(self, s: Session, model: type[T], key: int, what: str, lock: bool = False) -> T:
        """The row `key` of `model` in session `s` (locked FOR UPDATE if asked), or an error."""
        row = s.get(model, key, with_for_update=lock or None)
        if row is None:
            raise self._missing(what, key)
        return row

    def _get(self, model: type[T], key: int, what: str) -> T:
        with self.session() as s:
            return self._fetch(s, model, key, what)

    def _add(self, row: SQLModel) -> int:
        with self.session(write=True) as s:
            s.add(row)
            s.flush()
            return row_id(row)

    def _all(self, query: Any) -> list[Any]:
        with self.session() as s:
            return list(s.exec(query))

    def _last(self, query: Any, limit: int | None) -> list[Any]:
        """The rows of a newest-first `query`, the newest `limit` of them, oldest first."""
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return list(reversed(s.exec(query).all()))

    def _write_retrying(self, write: Callable[[Session], R], what: str) -> R:
        """Run `write` in a write session; a concurrent insert of the same key retries once.

        Upserts look a row up by its unique key and insert it when absent; another writer may
        insert the same key in between, which fails the first try with an IntegrityError. The
        second try then finds that row and updates it.
        """
        for _ in range(2):
            try:
                with self.session(write=True) as s:
                    return write(s)
            except StorageError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StorageError(f"{what} could not be recorded in database {self.name}.")
