"""An async VISA transport for SCPI instruments, over pyvisa with the pyvisa-py backend.

pyvisa blocks, so every instrument gets its own single worker thread and the event loop only
ever awaits it. One command is in flight per instrument at a time (`lock`), everything on the
wire is logged at debug level under `cellbench.wire`, and each call has a timeout.

Resource strings are VISA's: `TCPIP0::192.168.0.20::5025::SOCKET` (raw socket, the form the
simulators serve), `TCPIP0::host::inst0::INSTR`, `USB0::0x05E6::0x2450::<sn>::INSTR`,
`GPIB0::18::INSTR`. pyvisa-py reports a raw socket closed by the far end only as a timeout,
so for SOCKET resources the worker looks at the socket itself and says "closed" at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, Unpack

from drivers.errors import InstrumentConnectionError, InstrumentError, InstrumentTimeout
from drivers.retry import reopen
from drivers.transports.link import Link, LinkSettings

wire_log = logging.getLogger("cellbench.wire")

T = TypeVar("T")

TERMINATION = "\n"  # of every line both ways (SCPI's)
THREAD_SLACK_S = 2.0  # how much longer than the VISA timeout the loop waits for the worker


class _Closed(Exception):
    """Raised in the worker when the far end closed the connection."""


class _TimedOut(Exception):
    """Raised in the worker when no reply arrived in time."""


class VisaTransport:
    """Write SCPI commands and read their reply lines through one VISA resource."""

    def __init__(
        self, resource: str, *, backend: str = "@py", **link: Unpack[LinkSettings]
    ) -> None:
        self.link = Link(**link)
        self.name = self.link.name
        if not isinstance(resource, str) or "::" not in resource:
            raise InstrumentConnectionError(
                f"VISA resource {resource!r} for {self.name} is not a VISA resource string such "
                "as TCPIP0::192.168.0.20::5025::SOCKET or USB0::0x05E6::0x2450::<serial>::INSTR"
            )
        self.resource = resource.strip()
        self.backend = backend
        self.lock = asyncio.Lock()
        self._executor = self._new_worker()
        self._rm: Any = None
        self._inst: Any = None
        self._broken = False  # a worker call overran its deadline; the session is suspect
        self._wanted = False  # open() was called and close() was not: reconnect on demand

    def __str__(self) -> str:
        return f"{self.name} at {self.resource}"

    @property
    def connected(self) -> bool:
        return self._inst is not None and not self._broken

    # --- worker-thread plumbing --------------------------------------------------------------
    def _new_worker(self) -> ThreadPoolExecutor:
        self._worker_stopped = False
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"visa-{self.name}")

    async def _call(self, fn: Callable[[], T], deadline_s: float) -> T:
        """Run a blocking call on this instrument's thread without blocking the loop."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, fn)
        try:
            return await asyncio.wait_for(future, deadline_s + THREAD_SLACK_S)
        except TimeoutError as exc:
            self._broken = True
            raise InstrumentTimeout(
                f"{self} did not complete a VISA call within {deadline_s + THREAD_SLACK_S:g} s"
            ) from exc

    # --- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the VISA session (no-op if open); raise InstrumentConnectionError if not."""
        async with self.lock:
            await self._open_unlocked()

    async def _open_unlocked(self) -> None:
        self._wanted = True
        if self._worker_stopped:
            self._executor = self._new_worker()
        if self._inst is not None and not self._broken:
            return
        await self._drop_session()
        try:
            await self._call(self._open_blocking, self.link.connect_timeout_s)
        except InstrumentTimeout as exc:
            raise InstrumentConnectionError(
                f"{self} did not accept a connection within {self.link.connect_timeout_s:g} s"
            ) from exc
        self._broken = False
        wire_log.debug("%s: connected to %s", self.name, self.resource)

    def _open_blocking(self) -> None:
        import pyvisa  # imported here so that a bench without VISA instruments never needs it

        try:
            rm = pyvisa.ResourceManager(self.backend)
        except Exception as exc:  # pyvisa raises bare OSError/ValueError for missing backends
            raise InstrumentConnectionError(
                f"cannot load the VISA backend {self.backend!r} for {self}: {exc}"
            ) from None
        try:
            inst = rm.open_resource(
                self.resource,
                open_timeout=int(self.link.connect_timeout_s * 1000),
                read_termination=TERMINATION,
                write_termination=TERMINATION,
            )
            inst.timeout = int(self.link.timeout_s * 1000)
            sock, _ = _socket_of(inst)
            if sock is not None:  # pyvisa-py reports a refused raw socket only on first use
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, os.strerror(error))
                sock.getpeername()
        except Exception as exc:
            with contextlib.suppress(Exception):
                rm.close()
            reason = _reason(exc)
            raise InstrumentConnectionError(f"cannot connect to {self}: {reason}") from None
        self._rm, self._inst = rm, inst

    async def close(self) -> None:
        """Close the session; the worker thread stays for a later open()."""
        self._wanted = False
        await self._drop_session()

    async def drop(self) -> None:
        """Forget the session after a lost or late reply; the next command reconnects.

        A SCPI reply that arrives after its timeout would otherwise be read as the answer
        to the next query, so a timed-out session is never reused.
        """
        async with self.lock:
            await self._drop_session()

    async def _drop_session(self) -> None:
        inst, rm, self._inst, self._rm = self._inst, self._rm, None, None
        if inst is None and rm is None:
            return
        if self._broken:
            # the worker may still be stuck inside the old session: close it from a fresh thread
            old, self._executor = (
                self._executor,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"visa-{self.name}"),
            )
            old.shutdown(wait=False)
            self._broken = False

        def shut() -> None:
            with contextlib.suppress(Exception):
                inst.close()
            with contextlib.suppress(Exception):
                rm.close()

        with contextlib.suppress(InstrumentError):
            await self._call(shut, 2.0)
        wire_log.debug("%s: disconnected from %s", self.name, self.resource)

    async def reconnect(self, attempts: int = 5, first_delay_s: float = 0.2) -> None:
        """Close and reopen with exponential backoff; raise after the last attempt."""
        async with self.lock:
            await self._reconnect_unlocked(attempts, first_delay_s)

    async def _reconnect_unlocked(self, attempts: int, first_delay_s: float) -> None:
        await self._drop_session()
        await reopen(self._open_unlocked, str(self), attempts=attempts, first_delay_s=first_delay_s)

    async def shutdown(self) -> None:
        """Close the session and stop the worker thread for good."""
        self._wanted = False
        await self._drop_session()
        self._executor.shutdown(wait=False)
        self._worker_stopped = True

    # --- traffic -----------------------------------------------------------------------------
    def _require(self) -> Any:
        if self._inst is None or self._broken:
            raise InstrumentConnectionError(f"{self} is not connected")
        return self._inst

    async def _ensure(self) -> Any:
        """The open session; after a lost connection, reconnect with backoff first."""
        if (self._inst is None or self._broken) and self._wanted:
            link = self.link
            await self._reconnect_unlocked(link.reconnect_attempts, link.reconnect_delay_s)
        return self._require()

    async def write(self, command: str) -> None:
        """Send one command (no reply expected)."""
        async with self.lock:
            await self._write_unlocked(command)

    async def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command and return its reply line without the terminator."""
        async with self.lock:
            await self._write_unlocked(command)
            return await self._read_unlocked(timeout_s)

    async def read(self, timeout_s: float | None = None) -> str:
        """Read one reply line (for replies that arrive without a fresh command)."""
        async with self.lock:
            return await self._read_unlocked(timeout_s)

    async def _write_unlocked(self, command: str) -> None:
        inst = await self._ensure()
        wire_log.debug("%s > %r", self.name, command)

        def send() -> None:
            try:
                inst.write(command)
            except Exception as exc:
                raise _Closed(_reason(exc)) from None

        try:
            await self._call(send, self.link.timeout_s)
        except _Closed as exc:
            await self._drop_session()
            raise InstrumentConnectionError(
                f"lost the connection to {self} while writing: {exc}"
            ) from None

    async def _read_unlocked(self, timeout_s: float | None) -> str:
        inst = self._require()
        limit = self.link.timeout_s if timeout_s is None else timeout_s
        term = TERMINATION.encode("ascii")

        def receive() -> str:
            sock, pending = _socket_of(inst)
            if sock is not None and not (pending and term in pending):
                try:
                    ready, _, _ = select.select([sock], [], [], limit)
                    if not ready:
                        raise _TimedOut
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        raise _Closed("the instrument closed the connection")
                except OSError as exc:
                    raise _Closed(_reason(exc)) from None
            try:
                inst.timeout = int(limit * 1000)
                return str(inst.read())
            except Exception as exc:
                if _is_timeout(exc):
                    raise _TimedOut from None
                raise _Closed(_reason(exc)) from None

        try:
            line = await self._call(receive, limit)
        except _TimedOut:
            await self._drop_session()  # its late reply must not answer the next query
            raise InstrumentTimeout(f"{self} sent no reply within {limit:g} s") from None
        except _Closed as exc:
            await self._drop_session()
            raise InstrumentConnectionError(f"lost the connection to {self}: {exc}") from None
        line = line.rstrip("\r\n")
        wire_log.debug("%s < %r", self.name, line)
        return line


def _socket_of(inst: Any) -> tuple[socket.socket | None, bytes | bytearray | None]:
    """The raw socket and pending buffer of a pyvisa-py SOCKET session, else (None, None)."""
    try:
        session = inst.visalib.sessions[inst.session]
    except Exception:
        return None, None
    sock = getattr(session, "interface", None)
    if not isinstance(sock, socket.socket):
        return None, None
    return sock, getattr(session, "_pending_buffer", None)


def _is_timeout(exc: Exception) -> bool:
    code = getattr(exc, "error_code", None)
    try:
        from pyvisa import constants

        return code == constants.StatusCode.error_timeout
    except ImportError:  # pragma: no cover
        return False


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "description", None) or getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".") or type(exc).__name__
