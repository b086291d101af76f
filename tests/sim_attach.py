"""A client attached to its simulator for one test, for any test folder (tests/ is on sys.path
through its conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def attached(
    sim: Any, client: Any, *, close: Callable[[], Awaitable[Any]] | None = None
) -> AsyncIterator[tuple[Any, Any]]:
    """(sim, client) for one test: however it ends, the client is closed (`close`, else its
    own `close`), then the simulator stopped. Stopping a simulator twice is harmless, so a test
    may stop it early."""
    try:
        yield sim, client
    finally:
        await (close or client.close)()
        await sim.stop()
