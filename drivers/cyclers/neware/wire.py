"""The BTS 8 API's framing over TCP (reference/instruments.md 1.5): each request is
`<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">` + body + `</bts>` followed by
`\\n\\n#\\r\\n`, and each reply ends with the same terminator.

A reply can be large (a `download` page of 1000 records is a few hundred kB), so the stream
is opened with a generous limit, and a reply larger than `MAX_REPLY_BYTES` is refused
rather than buffered without end.
"""

from __future__ import annotations

import asyncio
from typing import Unpack

from drivers.errors import InstrumentConnectionError, InstrumentReplyError
from drivers.transports.lines import LineTransport, TransportOptions, wire_log

TERMINATOR = b"\n\n#\r\n"
HEAD = '<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">'
TAIL = "</bts>"
MAX_REPLY_BYTES = 8 * 1024 * 1024


class FrameTransport(LineTransport):
    """One TCP connection to a BTS host: write a request body, read one reply document."""

    def __init__(self, endpoint: str, **options: Unpack[TransportOptions]) -> None:
        super().__init__(endpoint, **options)
        if self.endpoint.kind != "tcp":
            raise InstrumentConnectionError(
                f"the BTS host is reached over TCP (tcp://host:port), not {self.endpoint}"
            )

    async def open(self) -> None:
        coro = asyncio.open_connection(
            self.endpoint.host, self.endpoint.port, limit=MAX_REPLY_BYTES
        )
        try:
            self._reader, self._writer = await asyncio.wait_for(coro, self.link.connect_timeout_s)
        except TimeoutError as exc:
            raise InstrumentConnectionError(
                f"{self} did not accept a connection within {self.link.connect_timeout_s:g} s"
            ) from exc
        except OSError as exc:
            raise InstrumentConnectionError(
                f"cannot connect to {self}: {exc.strerror or exc}"
            ) from exc
        wire_log.debug("%s: connected to %s", self.name, self.endpoint)

    async def write_frame(self, body: str) -> None:
        if not self.connected:
            raise InstrumentConnectionError(f"{self} is not connected")
        assert self._writer is not None
        text = HEAD + body + TAIL
        wire_log.debug("%s > %s", self.name, text[:500])
        with self.link_errors("stopped accepting data", while_="while writing"):
            self._writer.write(text.encode("utf-8") + TERMINATOR)
            await asyncio.wait_for(self._writer.drain(), self.timeout_s)

    async def read_frame(self, timeout_s: float | None = None) -> str:
        """One reply document without its terminator."""
        reader = self._reader_or_raise()
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            with self.link_errors(f"sent no complete reply for {limit:g} s"):
                raw = await asyncio.wait_for(reader.readuntil(TERMINATOR), limit)
        except asyncio.IncompleteReadError as exc:
            raise InstrumentConnectionError(f"{self} closed the connection mid-reply") from exc
        except asyncio.LimitOverrunError as exc:
            await self.close()  # the rest of that reply is still on the wire
            raise InstrumentReplyError(
                f"{self} sent a reply larger than {MAX_REPLY_BYTES // 1024 // 1024} MB"
            ) from exc
        text = raw[: -len(TERMINATOR)].decode("utf-8", errors="replace")
        wire_log.debug("%s < %s", self.name, text[:500])
        return text
