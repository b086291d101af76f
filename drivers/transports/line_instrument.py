"""An instrument that answers each command with one line (ESPEC, Mark-10, Alicat).

They share how they are reached (an endpoint and `LinkSettings`, with defaults per driver
class) and the whole exchange: one command and its reply under the transport's lock, and
after a lost link one reconnect with backoff and the same command again. That repeat is
safe because every command these drivers send is idempotent (a query, or a setpoint).
"""

from __future__ import annotations

from typing import ClassVar, Unpack

from drivers.context import AsyncContext
from drivers.errors import InstrumentConnectionError
from drivers.transports.delimited import DelimitedTransport
from drivers.transports.lines import LineTransport, TransportOptions
from drivers.transports.link import LinkSettings

RECONNECT_FIRST_DELAY_S = 0.05  # these instruments answer within milliseconds

__all__ = ["LineInstrument", "LinkSettings"]


class LineInstrument(AsyncContext):
    """Base of drivers that talk to one instrument over a `LineTransport`.

    A subclass states its link's defaults and line endings as class attributes; `separator`
    is the reply terminator when it is not a newline.
    """

    default_name: ClassVar[str] = "instrument"
    default_baudrate: ClassVar[int] = 9600
    default_timeout_s: ClassVar[float] = 1.0
    newline: ClassVar[str] = "\r\n"
    separator: ClassVar[str | None] = None

    def __init__(self, endpoint: str, **link: Unpack[LinkSettings]) -> None:
        options: TransportOptions = {
            "name": self.default_name,
            "baudrate": self.default_baudrate,
            "timeout_s": self.default_timeout_s,
            "reconnect_delay_s": RECONNECT_FIRST_DELAY_S,
            **link,
            "newline": self.newline,
        }
        self.transport = (
            LineTransport(endpoint, **options)
            if self.separator is None
            else DelimitedTransport(endpoint, separator=self.separator, **options)
        )
        self.name = self.transport.name

    @property
    def reconnect_attempts(self) -> int:
        return self.transport.link.reconnect_attempts

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    async def exchange(self, line: str) -> str:
        """Send one line and return the reply; after a lost link reconnect and send it again."""
        try:
            return await self._exchange_once(line)
        except InstrumentConnectionError:
            link = self.transport.link
            await self.transport.reconnect(
                attempts=link.reconnect_attempts, first_delay_s=link.reconnect_delay_s
            )
            return await self._exchange_once(line)

    async def _exchange_once(self, line: str) -> str:
        async with self.transport.lock:
            await self.transport.write_line(line)
            return await self.transport.read_line()
