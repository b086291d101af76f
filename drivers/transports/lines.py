"""A line-oriented async transport over TCP or serial, with timeouts and reconnect.

Endpoints: `tcp://host:port` (raw TCP), `socket://host:port` (serial-over-TCP, treated the
same), `serial:///dev/ttyUSB0`, or a plain device/pty path such as `/dev/pts/7`. Every line
that goes over the wire is logged at debug level under `cellbench.wire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Unpack
from urllib.parse import urlparse

from drivers.errors import InstrumentConnectionError, InstrumentTimeout
from drivers.retry import reopen
from drivers.transports.link import Link, LinkSettings

wire_log = logging.getLogger("cellbench.wire")


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "tcp" or "serial"
    host: str = ""
    port: int = 0
    device: str = ""

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}" if self.kind == "tcp" else self.device


def parse_endpoint(text: str) -> Endpoint:
    """Turn an endpoint string from a bench file into an Endpoint, or say what is valid."""
    text = text.strip()
    if text.startswith("/"):
        return Endpoint("serial", device=text)
    parsed = urlparse(text)
    if parsed.scheme in ("tcp", "socket"):
        if not parsed.hostname or not parsed.port:
            raise InstrumentConnectionError(f"endpoint {text!r} needs a host and a port")
        return Endpoint("tcp", host=parsed.hostname, port=parsed.port)
    if parsed.scheme == "serial" and parsed.path:
        return Endpoint("serial", device=parsed.path)
    raise InstrumentConnectionError(
        f"endpoint {text!r} is not tcp://host:port, socket://host:port, serial:///dev/… or a path"
    )


class TransportOptions(LinkSettings, total=False):
    """The keyword arguments of `LineTransport`, for transports built on it."""

    newline: str


class LineTransport:
    """Write commands and read `\\n`-terminated reply lines, one exchange at a time.

    `lock` serialises traffic: a driver holds it for the whole of a command and its reply,
    so that only one command is ever in flight on the instrument.
    """

    def __init__(self, endpoint: str, *, newline: str = "\n", **link: Unpack[LinkSettings]) -> None:
        self.endpoint = parse_endpoint(endpoint)
        self.link = Link(**link)
        self.name = self.link.name  # the fields read most, at hand (a Link is frozen)
        self.baudrate = self.link.baudrate
        self.timeout_s = self.link.timeout_s
        self.newline = newline
        self.lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def __str__(self) -> str:
        return f"{self.name} at {self.endpoint}"

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        try:
            if self.endpoint.kind == "tcp":
                coro = asyncio.open_connection(self.endpoint.host, self.endpoint.port)
            else:
                import serial_asyncio_fast

                coro = serial_asyncio_fast.open_serial_connection(
                    url=self.endpoint.device, baudrate=self.baudrate
                )
            self._reader, self._writer = await asyncio.wait_for(coro, self.link.connect_timeout_s)
        except TimeoutError as exc:
            raise InstrumentConnectionError(
                f"{self} did not accept a connection within {self.link.connect_timeout_s:g} s"
            ) from exc
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InstrumentConnectionError(f"cannot connect to {self}: {reason}") from exc
        wire_log.debug("%s: connected to %s", self.name, self.endpoint)

    async def reconnect(self, attempts: int = 5, first_delay_s: float = 0.2) -> None:
        """Close and reopen with backoff (`drivers.retry`); raise after the last attempt."""
        await self.close()
        await reopen(self.open, str(self), attempts=attempts, first_delay_s=first_delay_s)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def write_line(self, text: str) -> None:
        if not self.connected:
            raise InstrumentConnectionError(f"{self} is not connected")
        wire_log.debug("%s > %r", self.name, text)
        assert self._writer is not None
        with self.link_errors("stopped accepting data", while_="while writing"):
            self._writer.write((text + self.newline).encode("ascii"))
            await asyncio.wait_for(self._writer.drain(), self.timeout_s)

    async def write_lines(self, lines: list[str]) -> None:
        """Send several lines in one write (a whole script)."""
        await self.write_line(self.newline.join(lines))

    async def read_line(self, timeout_s: float | None = None) -> str:
        """Read one line without its terminator; raise on timeout or a closed connection."""
        reader = self._reader_or_raise()
        limit = self.timeout_s if timeout_s is None else timeout_s
        with self.link_errors(f"sent nothing for {limit:g} s"):
            raw = await asyncio.wait_for(reader.readline(), limit)
        if not raw:
            raise InstrumentConnectionError(f"{self} closed the connection")
        if not raw.endswith(b"\n"):
            raise InstrumentConnectionError(f"{self} closed the connection mid-line")
        line = raw.decode("ascii", errors="replace").rstrip("\r\n")
        wire_log.debug("%s < %r", self.name, line)
        return line

    def _reader_or_raise(self) -> asyncio.StreamReader:
        if self._reader is None:
            raise InstrumentConnectionError(f"{self} is not connected")
        return self._reader

    @contextlib.contextmanager
    def link_errors(self, silent: str, *, while_: str = "") -> Iterator[None]:
        """Turn a timeout into InstrumentTimeout ("<who> <silent>") and a socket error into
        InstrumentConnectionError ("lost the connection to <who> [while_]")."""
        try:
            yield
        except TimeoutError as exc:
            raise InstrumentTimeout(f"{self} {silent}") from exc
        except (ConnectionError, OSError) as exc:
            lost = f"lost the connection to {self}"
            raise InstrumentConnectionError(f"{lost} {while_}" if while_ else lost) from exc

    async def drain_input(self, quiet_s: float = 0.05) -> None:
        """Discard whatever the instrument still has queued (e.g. after an abort)."""
        with contextlib.suppress(InstrumentTimeout):
            while True:
                await self.read_line(quiet_s)
