"""The Store: every read and write the rest of cellbench does against the database.

One class composed of one part per concern, each in its own module: the catalogue (instruments,
cells, protocols), jobs, runs with their steps and analyses, samples and spectra, events and
alarms, and live slot states. `base` holds what they share.
"""

from __future__ import annotations

from storage.engine import create_engine, resolve_url, translate_errors
from storage.migrate import upgrade
from storage.store.base import jsonable, sha256_text
from storage.store.events import EventStore
from storage.store.jobs import JobStore
from storage.store.runs import RunStore
from storage.store.samples import SampleStore
from storage.store.slots import SlotStore

__all__ = ["Store", "jsonable", "open_store", "sha256_text"]


class Store(RunStore, JobStore, SampleStore, EventStore, SlotStore):
    """One database: cells, protocols, jobs, runs with their steps, samples, spectra and events."""


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the database at `url`, $CELLBENCH_DB or default."""
    resolved = resolve_url(url)
    engine, name = create_engine(resolved)
    with translate_errors(name):
        upgrade(engine, name)
    return Store(engine, name, resolved)
