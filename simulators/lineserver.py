"""Serve a line-oriented instrument on a TCP port and on a pty, like a serial-to-TCP forwarder.

The chamber, pressure-controller and force-gauge simulators answer one command line with zero
or more reply lines. `LineServer` owns the endpoints; the simulator only supplies `handle`.
Incoming bytes are split at CR or LF (either ends a command on these instruments; empty lines
are ignored), and every reply line is sent with the instrument's own terminator.
`LineInstrument` is what those simulators share besides: endpoints, bringing their plant up to
the clock's now, and the link faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from simulators.clock import PlantFront

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[list[str]]]


async def cancel_tasks(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel a server's connection tasks and wait until each has ended."""
    for task in list(tasks):
        task.cancel()
    for task in list(tasks):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class LineServer:
    """TCP and pty endpoints for one simulated instrument, with connection faults."""

    def __init__(self, handle: Handler, *, terminator: str, name: str = "instrument") -> None:
        self.handle = handle
        self.terminator = terminator.encode("ascii")
        self.name = name
        self.stalled = False  # fault: read commands but never answer
        self.refuse = False  # fault: drop every new TCP connection at once
        self.connections = 0
        self._servers: list[asyncio.AbstractServer] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._fds: list[int] = []

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on host:port (0 lets the OS choose); returns the bound address."""
        server = await asyncio.start_server(self._accept, host, port)
        self._servers.append(server)
        address = server.sockets[0].getsockname()
        return address[0], address[1]

    async def start_pty(self) -> str:
        """Open a pty pair, serve on the master, and return the slave's device path."""
        pty = await open_pty()
        self._fds += pty.fds
        self._spawn(self._serve(pty.reader, pty.writer))
        return pty.device

    def drop_connections(self) -> None:
        """Fault: cut every open TCP connection now (the pty stays, as a cable would)."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        self.drop_connections()
        await cancel_tasks(self._tasks)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._servers.clear()
        self._fds.clear()

    # -- internals -----------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # The simulator is stopping; end quietly so asyncio's stream callback does not
            # report the cancellation of a connection handler as an error.
            return
        finally:
            self._writers.discard(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        buffer = b""
        try:
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    cut = min(
                        (i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0), default=-1
                    )
                    if cut < 0:
                        break
                    raw, buffer = buffer[:cut], buffer[cut + 1 :]
                    text = raw.decode("ascii", errors="replace").strip()
                    if not text or self.stalled:
                        continue
                    try:
                        replies = await self.handle(text)
                    except Exception:  # the firmware never crashes the port
                        log.exception("%s simulator failed on %r", self.name, text)
                        continue
                    for line in replies:
                        writer.write(line.encode("ascii") + self.terminator)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@dataclass
class Pty:
    """An open pty: streams on the master, the slave's device path, and the descriptors to
    close when the simulator stops."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    device: str
    fds: list[int]


async def open_pty() -> Pty:
    """A raw pty pair (no echo, no CR/LF translation) with asyncio streams on its master."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(master), "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(), os.fdopen(os.dup(master), "wb", 0)
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    # The slave stays open (in `fds`) so that the master never reads EIO between clients.
    return Pty(reader, writer, os.ttyname(slave), [master, slave])


class LineInstrument(PlantFront):
    """Base of the line-based simulators: a `LineServer` around `handle`, the plant brought up
    to the clock's now before each answer, and the link faults (drop, stall).

    Subclasses are dataclasses that set `terminator` and `label` (and narrow `plant`).
    """

    terminator: ClassVar[str]
    label: ClassVar[str]
    server: LineServer
    commands: list[str]

    def __post_init__(self) -> None:
        self.server = LineServer(self.handle, terminator=self.terminator, name=self.label)
        self.commands = []

    async def handle(self, line: str) -> list[str]:
        raise NotImplementedError

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        return await self.server.start_tcp(host, port)

    async def start_pty(self) -> str:
        return await self.server.start_pty()

    async def stop(self) -> None:
        await self.server.stop()

    def link_fault(self, fault: str) -> None:
        """drop: cut the TCP connections now; stall: read commands, answer nothing."""
        if fault == "drop":
            self.server.drop_connections()
        elif fault == "stall":
            self.server.stalled = True

    def clear_link(self) -> None:
        self.server.stalled = False
