"""The EmStat4 simulator's endpoints: a TCP port and a pty, with the online commands.

Online commands (reference/instruments.md 1.1): `t` firmware, `v` MethodSCRIPT version,
`i` serial number, `e` + script + empty line to execute, `Z` to abort. A running script
belongs to the instrument, not to the connection: if the host goes away, the script keeps
running and its output waits (bounded, oldest lines dropped first) for the next connection,
like a USB CDC buffer. Fault injection is described in `faults.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulators.clock import SimClock
from simulators.emstat4.faults import (
    DEFAULT_ERROR_CODE,
    FAULT_KINDS,
    DropMode,
    Faults,
    FaultSpec,
)
from simulators.emstat4.machine import Aborted, Machine
from simulators.emstat4.script import ERR_NOT_RUNNING, ScriptError, parse
from simulators.errors import SimulatorError
from simulators.faults import check_fault
from simulators.lineserver import open_pty

log = logging.getLogger(__name__)

FIRMWARE_LINES = ("tes4_hr1.3.2", "Nov 22 2026 12:00:00*")
METHODSCRIPT_VERSION = "v0106"
PENDING_LIMIT = 200_000  # lines kept for a host that is not connected
ERR_BUSY = 0x0004
ERR_UNKNOWN_ONLINE = 0x0001


def _error_code(code: Any) -> int:
    """An instrument error code given as hex text ("4006") or a number."""
    if code is None:
        return DEFAULT_ERROR_CODE
    try:
        value = int(code, 16) if isinstance(code, str) else int(code)
    except (TypeError, ValueError):
        raise SimulatorError(f"error code {code!r} is not a hex number such as 4006") from None
    if not 0 <= value <= 0xFFFF:
        raise SimulatorError(f"error code {code!r} is not four hex digits")
    return value


class InjectedError(Exception):
    """An instrument error raised inside a running script by fault injection."""

    def __init__(self, code: int) -> None:
        super().__init__("injected instrument error")
        self.code = code


@dataclass
class EmStat4Simulator:
    """One simulated EmStat4 channel with its cell."""

    cell: Any
    time_scale: float = math.inf
    serial: str = "ES4HR-SIM-0001"
    clock: SimClock | None = None
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.clock = self.clock or SimClock(self.time_scale)
        self.machine = Machine(cell=self.cell, clock=self.clock, out=self._out)
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[str] = deque(maxlen=PENDING_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._pty_fds: list[int] = []
        self._pty_tasks: list[asyncio.Task[None]] = []
        self._since_drain = 0
        self._handlers: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.drops = 0
        self.lost_lines: list[str] = []  # what abrupt drops discarded, oldest first
        self._lose = 0
        self._addresses: list[tuple[str, int]] = []
        self._pty_writers: set[asyncio.StreamWriter] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._reopen: asyncio.Task[None] | None = None
        self._unstalled = asyncio.Event()
        self._unstalled.set()

    # -- lifecycle -------------------------------------------------------------------------
    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        server = await asyncio.start_server(self._serve, host, port)
        self._servers.append(server)
        address = server.sockets[0].getsockname()
        self._addresses.append((address[0], address[1]))
        return address[0], address[1]

    async def start_pty(self) -> str:
        """Open a pty pair and serve on the master; returns the device path for the driver."""
        pty = await open_pty()
        self._pty_fds += pty.fds
        self._pty_writers.add(pty.writer)
        self._pty_tasks.append(asyncio.create_task(self._serve(pty.reader, pty.writer)))
        return pty.device

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._reopen is not None:
            self._reopen.cancel()
        self._unstalled.set()
        task = self._task
        if task is not None and not task.done():
            self.machine.abort_requested = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 2.0)
            if not task.done():
                task.cancel()
        for server in self._servers:
            server.close()
        for task in self._pty_tasks:
            task.cancel()
        if self._writer is not None:
            self._writer.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=1.0)
        for fd in self._pty_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._servers.clear()
        self._pty_fds.clear()

    # -- faults and state ------------------------------------------------------------------
    def inject(self, fault: str, *, after: Any = None, code: Any = None, **_: Any) -> None:
        """One of FAULT_KINDS, after `after` more data packages (drop and stall without
        `after` happen now); `error` fails with instrument error `code` (hex text or a
        number, default 4010)."""
        check_fault(fault, tuple(FAULT_KINDS), "EmStat4")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
            raise SimulatorError(f"'after' must be a whole number of data packages, not {after!r}")
        if after is None and fault == "drop":
            self.drop_connection()
        elif after is None and fault == "stall":
            self.stall(True)
        else:
            FaultSpec(fault, after or 0, _error_code(code)).arm(self)

    def clear(self) -> None:
        """Undo every fault on the instrument (not on its cell)."""
        self.faults = Faults()
        self.stall(False)

    def state(self) -> dict[str, Any]:
        """Whether it drives its cell and runs a script, and its link (for safety tests)."""
        return {
            "cell_on": bool(self.machine.cell_on),
            "script_running": self.running,
            "connections": self.connections,
            "drops": self.drops,
        }

    def stall(self, stalled: bool = True) -> None:
        """Fault: stop answering and streaming (True) or carry on (False)."""
        if stalled:
            self._unstalled.clear()
        else:
            self._unstalled.set()

    @property
    def stalled(self) -> bool:
        return not self._unstalled.is_set()

    def drop_connection(
        self, mode: DropMode = "clean", *, offline_s: float = 0.0, lose: int | None = None
    ) -> None:
        """Fault: cut the host connection now; the script keeps running (see faults.py).

        clean: lines sent so far still arrive, later ones wait in the buffer. abrupt: the
        unsent write buffer and the next `lose` lines (default `faults.lost_in_flight`) are
        lost. offline_s: refuse new connections for that many wall seconds.
        """
        writer = self._writer
        if writer is not None and writer in self._pty_writers:
            raise SimulatorError("a pty endpoint cannot drop its connection; use a TCP endpoint")
        self._writer = None
        self.drops += 1
        if writer is not None:
            if mode == "abrupt":
                writer.transport.abort()
                self._lose = self.faults.lost_in_flight if lose is None else lose
            else:
                writer.close()
        if offline_s > 0:
            self._go_offline(offline_s)

    def _go_offline(self, seconds: float) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        if self._reopen is not None:
            self._reopen.cancel()
        self._reopen = asyncio.get_running_loop().create_task(self._reopen_after(seconds))

    async def _reopen_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        for host, port in self._addresses:
            server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
            self._servers.append(server)

    def _due(self, name: str, *, after_this: bool = False) -> bool:
        """Count one package against a scheduled fault; True when it fires now."""
        left = getattr(self.faults, name)
        if left is None:
            return False
        if after_this:
            left -= 1
        if left <= 0:
            setattr(self.faults, name, None)
            return True
        setattr(self.faults, name, left - 1 if not after_this else left)
        return False

    def _package_faults(self, line: str) -> str:
        """Apply whatever is scheduled for this data package; returns the line to send."""
        faults = self.faults
        if faults.error_code is not None and self._due("error_after_packages"):
            code, faults.error_code = faults.error_code, None
            raise InjectedError(code)
        # A cell fault hits right after the N-th package (already measured), so the
        # (N+1)-th sample is the first one taken on the faulted cell.
        if self._due("short_after_packages", after_this=True):
            self.cell.short()
        if self._due("open_after_packages", after_this=True):
            self.cell.open()
        if self._due("corrupt_after_packages"):
            faults.corrupt_next += 1
        if faults.corrupt_next > 0:
            faults.corrupt_next -= 1
            line = "P" + line[1:].replace("8", "g", 1).replace(";", "", 1)
        if self._due("stall_after_packages"):
            self.stall(True)
            if faults.stall_s is not None:
                loop = asyncio.get_running_loop()
                self._timers.append(loop.call_later(faults.stall_s, self.stall, False))
        if self._due("drop_after_packages"):
            try:
                self.drop_connection(faults.drop_mode, offline_s=faults.offline_s)
            except SimulatorError as exc:
                log.warning("drop fault ignored: %s", exc)
        return line

    # -- output ----------------------------------------------------------------------------
    async def _out(self, line: str) -> None:
        if line.startswith("P"):
            line = self._package_faults(line)
        await self._unstalled.wait()
        if self._lose > 0:  # in flight when an abrupt drop hit
            self._lose -= 1
            self.lost_lines.append(line)
            return
        writer = self._writer
        if writer is None or writer.is_closing():
            self._pending.append(line)
            return
        writer.write(line.encode("ascii") + b"\n")
        self._since_drain += 1
        if self._since_drain >= 64:  # the script yields at every sample; drain now and then
            self._since_drain = 0
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                if self._writer is writer:
                    self._writer = None

    async def _reply(self, writer: asyncio.StreamWriter, line: str) -> None:
        writer.write(line.encode("ascii") + b"\n")
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()

    # -- connection handling ---------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None and self._writer is not writer:
            self._writer.close()  # a new host takes the port over
        self._writer = writer
        self.connections += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        while self._pending and not writer.is_closing():
            writer.write(self._pending.popleft().encode("ascii") + b"\n")
        script_lines: list[str] | None = None
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                await self._unstalled.wait()
                text = raw.decode("ascii", errors="replace").rstrip("\r\n")
                if script_lines is not None:
                    if text == "":
                        await self._start_script(writer, script_lines)
                        script_lines = None
                    else:
                        script_lines.append(text)
                    continue
                if not text:
                    continue
                if text == "e":
                    if self.running:
                        await self._reply(writer, f"e!{ERR_BUSY:04X}: script already running")
                    else:
                        script_lines = []
                elif text == "t":
                    for line in FIRMWARE_LINES:
                        await self._reply(writer, line)
                elif text == "v":
                    await self._reply(writer, METHODSCRIPT_VERSION)
                elif text == "i":
                    await self._reply(writer, "i" + self.serial)
                elif text == "Z":
                    if self.running:
                        await self._reply(writer, "Z")
                        self.machine.abort_requested = True
                    else:
                        await self._reply(writer, f"Z!{ERR_NOT_RUNNING:04X}")
                else:
                    await self._reply(writer, f"{text[:1]}!{ERR_UNKNOWN_ONLINE:04X}")
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # The simulator is stopping; end the handler quietly so asyncio's stream
            # callback does not report the cancellation as an error.
            return
        finally:
            self._handlers.discard(handler)  # type: ignore[arg-type]
            if self._writer is writer:
                self._writer = None
            with contextlib.suppress(Exception):
                writer.close()

    async def _start_script(self, writer: asyncio.StreamWriter, lines: list[str]) -> None:
        if self.faults.error_code is not None and self.faults.error_after_packages is None:
            code, self.faults.error_code = self.faults.error_code, None
            await self._reply(writer, f"e!{code:04X}: injected instrument error")
            await self._reply(writer, "")
            return
        try:
            script = parse(lines)
        except ScriptError as exc:
            await self._reply(writer, f"e!{exc.code:04X}: Line {exc.line}: {exc}")
            await self._reply(writer, "")
            return
        await self._reply(writer, "e")
        self._task = asyncio.create_task(self._execute(script))

    async def _execute(self, script: Any) -> None:
        try:
            await self.machine.run(script)
        except Aborted:
            pass
        except InjectedError as exc:
            await self._out(f"!{exc.code:04X}: {exc}")
        except ScriptError as exc:
            await self._out(f"!{exc.code:04X}: Line {exc.line}: {exc}")
        except Exception as exc:  # the firmware never crashes the port
            log.exception("simulated EmStat4 script failed")
            await self._out(f"!0001: {type(exc).__name__}")
        finally:
            await self._out("")
