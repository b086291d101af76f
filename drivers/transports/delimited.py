"""A line transport whose replies end in a chosen separator (e.g. a bare `\\r`).

`LineTransport.read_line` splits at `\\n`; an Alicat answers each command with one line that
ends in `\\r` only, so it would wait forever. This subclass keeps everything else (endpoints,
reconnect, locking, wire logging) and reads up to `separator` instead.
"""

from __future__ import annotations

import asyncio
from typing import Unpack

from drivers.errors import InstrumentConnectionError
from drivers.transports.lines import LineTransport, TransportOptions, wire_log


class DelimitedTransport(LineTransport):
    """Write lines ending in `newline`; read replies ending in `separator`."""

    def __init__(
        self, endpoint: str, *, separator: str = "\r", **options: Unpack[TransportOptions]
    ) -> None:
        super().__init__(endpoint, **options)
        if not separator:
            raise InstrumentConnectionError("a reply separator cannot be empty")
        self.separator = separator.encode("ascii")

    async def read_line(self, timeout_s: float | None = None) -> str:
        """Read one reply without its separator (stray CR/LF around it are dropped)."""
        reader = self._reader_or_raise()
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            with self.link_errors(f"sent nothing for {limit:g} s"):
                raw = await asyncio.wait_for(reader.readuntil(self.separator), limit)
        except asyncio.IncompleteReadError as exc:
            raise InstrumentConnectionError(f"{self} closed the connection") from exc
        except asyncio.LimitOverrunError as exc:
            raise InstrumentConnectionError(f"{self} sent a reply too long to be one line") from exc
        line = raw[: -len(self.separator)].decode("ascii", errors="replace").strip("\r\n")
        wire_log.debug("%s < %r", self.name, line)
        return line
