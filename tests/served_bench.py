"""`cellbench sim`'s bench simulation served from a thread of its own, for blocking clients.

The field's own drivers (PyMeasure, QCoDeS, ChamberConnectLibrary-style Modbus clients) are
synchronous: they block the thread that calls them. The simulation therefore runs on its
own event loop in a background thread, exactly as `cellbench sim --bench` serves it, and
the test talks to it over real sockets from the main thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from scheduler.bench import Bench
from scheduler.sim.server import BenchSimulation

T = TypeVar("T")


class ServedBench:
    """A running bench simulation; `bench` is the bench file with the ports it bound."""

    def __init__(self, simulation: BenchSimulation, loop: asyncio.AbstractEventLoop) -> None:
        self.simulation = simulation
        self.loop = loop
        self.bench = Bench.from_text(simulation.resolved_text())

    def endpoint(self, instrument: str, key: str = "endpoint") -> str:
        return str(getattr(self.bench.instrument(instrument), key))

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the simulation's loop (where its state lives) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def state(self) -> dict[str, Any]:
        return self.call(self.simulation.state)


@contextmanager
def served(text: str) -> Iterator[ServedBench]:
    """Serve the bench file `text` (ports 0 are bound to free ones) until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-sim", daemon=True)
    thread.start()
    simulation = BenchSimulation(Bench.from_text(text, free_ports=True))
    try:
        asyncio.run_coroutine_threadsafe(simulation.start(), loop).result(10)
        yield ServedBench(simulation, loop)
    finally:
        asyncio.run_coroutine_threadsafe(simulation.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
