"""Serve a line-oriented instrument on a TCP port and on a pty, like a serial-to-TCP forwarder.

The chamber, pressure-controller and force-gauge simulators answer one command line with zero
or more reply lines. This helper owns the endpoints; the simulator only supplies `handle`.
Incoming bytes are split at CR or LF (either ends a command on these instruments; empty lines
are ignored), and every reply line is sent with the instrument's own terminator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[list[str]]]


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
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation
        os.set_blocking(master, False)
        self._fds += [master, slave]  # the slave stays open so the master never reads EIO
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(master), "rb", 0)
        )
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(), os.fdopen(os.dup(master), "wb", 0)
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._spawn(self._serve(reader, writer))
        return os.ttyname(slave)

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
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
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
