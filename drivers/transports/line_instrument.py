"""An instrument that answers each command with one line (ESPEC, Mark-10, Alicat).

They share the whole exchange: one command and its reply under the transport's lock, and
after a lost link one reconnect with backoff and the same command again. That repeat is
safe because every command these drivers send is idempotent (a query, or a setpoint).
"""

from __future__ import annotations

from typing import Self

from drivers.errors import InstrumentConnectionError
from drivers.transports.lines import LineTransport

RECONNECT_FIRST_DELAY_S = 0.05  # these instruments answer within milliseconds


class LineInstrument:
    """Base of drivers that talk to one instrument over a `LineTransport`."""

    def __init__(self, transport: LineTransport, *, reconnect_attempts: int = 3) -> None:
        self.transport = transport
        self.name = transport.name
        self.reconnect_attempts = reconnect_attempts

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def exchange(self, line: str) -> str:
        """Send one line and return the reply; after a lost link reconnect and send it again."""
        try:
            return await self._exchange_once(line)
        except InstrumentConnectionError:
            await self.transport.reconnect(
                attempts=self.reconnect_attempts, first_delay_s=RECONNECT_FIRST_DELAY_S
            )
            return await self._exchange_once(line)

    async def _exchange_once(self, line: str) -> str:
        async with self.transport.lock:
            await self.transport.write_line(line)
            return await self.transport.read_line()
