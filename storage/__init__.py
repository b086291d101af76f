"""storage: the SQLModel schema, SQLite/PostgreSQL engines, the Store and its asyncio facade,
batched sample ingest and export.

Exports load on first use, so that importing `storage.errors` (as the CLI does for every
command) does not pull in SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

from storage.errors import StorageError

_EXPORTS = {
    "BDF_LABELS": "storage.columns",
    "SAMPLE_COLUMNS": "storage.columns",
    "SampleWriter": "storage.writer",
    "Store": "storage.store",
    "AsyncStore": "storage.async_store",
    "open_store": "storage.store",
    "export_run": "storage.export",
    "import_mpr": "storage.mpr",
}

__all__ = ["StorageError", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(_EXPORTS[name]), name)
    return value
