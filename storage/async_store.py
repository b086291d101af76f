"""`AsyncStore`: every public `Store` method as a coroutine that runs off the event loop.

The daemon's event loop runs the safety supervisor, so it must never wait on the database, and
that includes SQLite's write lock, which another process (the CLI, a second daemon, an import)
may hold for up to the busy timeout (30 s). Each call therefore runs in a worker thread.

Why one executor per store rather than `asyncio.to_thread` (the loop's default pool):

- SQLite has one write lock per file. Writers in several threads do not run in parallel; each
  waits in SQLite's busy handler, which polls with sleeps of 1 to 100 ms, so waiting writes get
  the lock in no particular order and each one holds a thread while it waits. The default pool
  has min(32, cores + 4) threads, six on a two-core lab PC: a burst of writes waiting on another
  process's lock would take all of them, and everything else that uses `to_thread` or
  `run_in_executor(None, …)` (DNS lookups, file reads, driver work) would stall behind it.
- With its own executor the store's waits stay in the store's threads. On SQLite it has one
  thread: this process's calls run one at a time in the order they were made (a trip's event is
  written before the run is ended), with no busy-handler polling between our own writers.
  PostgreSQL locks rows and serves transactions in parallel, so there the executor has as many
  threads as the engine's connection pool.

The cost, on SQLite, is that a read queued behind a write waits for that write's lock too. Reads
are short under WAL and the lock is held only for one commit at a time, so ordering wins.

A cancelled call is not interrupted: its thread finishes the call (a write is never abandoned
half-way) and the result is dropped. Code that is already in a worker thread uses `.sync`;
`call(fn)` runs a function that makes several store calls (with `.sync`) in the store's thread.
`session()` is not offered: a session belongs to the thread that opened it, so use it inside
`call`. Blocking methods of the objects the store returns (a `SampleWriter`'s `flush` and
`close`) also go through `call`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar

from storage.errors import StorageError
from storage.store import Store

P = ParamSpec("P")
R = TypeVar("R")

NOT_OFFERED = frozenset({"session"})
"""Public Store methods without a coroutine twin (see the module docstring)."""
_OWN = frozenset({"close"})
"""Public Store methods the facade defines itself."""
_DEFAULT_POSTGRES_WORKERS = 5


def _workers(store: Store) -> int:
    """One thread for SQLite (one write lock per file); the pool's size for PostgreSQL."""
    if store.dialect == "sqlite":
        return 1
    size = getattr(store.engine.pool, "size", None)
    return max(1, int(size())) if callable(size) else _DEFAULT_POSTGRES_WORKERS


class AsyncStore:
    """The `Store` for asyncio code: `await astore.add_event(...)` instead of `store.add_event`.

    Every public method of `Store` but `session` is here with the same name and signature;
    the coroutine runs the call on this store's executor and returns its result or raises its
    exception unchanged.
    """

    def __init__(self, store: Store) -> None:
        self.sync = store
        self._executor = ThreadPoolExecutor(
            max_workers=_workers(store), thread_name_prefix=f"store:{store.name}"
        )
        self._closed = False

    @property
    def name(self) -> str:
        """The database's printable name."""
        return self.sync.name

    @property
    def url(self) -> str:
        """The database URL the store was opened with."""
        return self.sync.url

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.sync.dialect

    async def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(*args, **kwargs)` in the store's thread and return (or raise) its outcome."""
        if self._closed:
            raise StorageError(f"The async store for database {self.name} is closed.")
        bound = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, bound)

    async def with_store(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """Run `fn(store, *args, **kwargs)` in the store's thread, with the synchronous store:
        for functions that make several store calls (a queue transition reads, then writes)."""
        return await self.call(fn, self.sync, *args, **kwargs)

    @classmethod
    def of(cls, store: Store | AsyncStore) -> AsyncStore:
        """The one facade of `store` (itself, if it is one already).

        Every coroutine that reaches a store goes through the same facade, so on SQLite all
        of this process's calls share its one thread and keep their order.
        """
        if isinstance(store, AsyncStore):
            return store
        facade = getattr(store, "_async_facade", None)
        if facade is None or facade._closed:
            facade = cls(store)
            store._async_facade = facade  # type: ignore[attr-defined]
        return facade

    async def close(self) -> None:
        """Close the store (releasing its connections), then stop the store's threads."""
        if self._closed:
            return
        try:
            await self.call(self.sync.close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    if TYPE_CHECKING:
        # The generated coroutines (see `_facade`); mypy sees them through this signature.
        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]: ...


def _store_methods() -> dict[str, Callable[..., Any]]:
    """Store's public methods that become generated coroutines."""
    return {
        name: fn
        for name, fn in inspect.getmembers(Store, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_OFFERED | _OWN
    }


def _facade(name: str, method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """`async def <name>(self, ...)` that runs `self.sync.<name>(...)` in the store's thread."""

    @functools.wraps(method)  # same name, docstring and (via __wrapped__) signature
    async def coroutine(self: AsyncStore, /, *args: Any, **kwargs: Any) -> Any:
        return await self.call(getattr(self.sync, name), *args, **kwargs)

    coroutine.__qualname__ = f"AsyncStore.{name}"
    return coroutine


def _add_coroutines() -> None:
    for name, method in _store_methods().items():
        setattr(AsyncStore, name, _facade(name, method))


_add_coroutines()
