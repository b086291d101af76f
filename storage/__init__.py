"""storage: the SQLModel schema, SQLite/PostgreSQL engines, batched sample ingest and export."""

from storage.columns import BDF_LABELS, SAMPLE_COLUMNS
from storage.errors import StorageError
from storage.store import Store, open_store
from storage.writer import SampleWriter

__all__ = [
    "BDF_LABELS",
    "SAMPLE_COLUMNS",
    "SampleWriter",
    "StorageError",
    "Store",
    "export_run",
    "import_mpr",
    "open_store",
]


def export_run(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Write a run as BDF CSV or Parquet plus a metadata JSON (see storage.export)."""
    from storage.export import export_run as _export

    return _export(*args, **kwargs)


def import_mpr(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Import a BioLogic .mpr file as a run (see storage.mpr)."""
    from storage.mpr import import_mpr as _import

    return _import(*args, **kwargs)
