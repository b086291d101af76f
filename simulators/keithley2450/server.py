"""The simulated Keithley 2450 on a raw TCP socket (the instrument's port 5025 service).

A pyvisa-py `TCPIP::127.0.0.1::<port>::SOCKET` resource talks to it with `\\n`
terminations. The instrument's state (output, source, buffers, error queue) belongs to the
instrument, not to the connection: if the host goes away the output stays as it was, as on
the real SMU, and a new connection finds it unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from simulators.clock import SimClock
from simulators.errors import SimulatorError
from simulators.faults import check_fault, number
from simulators.keithley2450.instrument import Instrument
from simulators.lineserver import cancel_tasks

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
FAULTS = ("drop", "stall", "error", "corrupt")


@dataclass
class Faults:
    """Faults a test (or `cellbench sim`) can inject; counters count future `:READ?`s.

    `*_after_reads = n` fires on the (n+1)-th `:READ?` from now (0 = the next one).
    """

    drop_after_reads: int | None = None  # cut the connection instead of answering
    stall_after_reads: int | None = None  # go silent for stall_s wall seconds, then answer
    stall_s: float = 1.0
    corrupt_after_reads: int | None = None  # garble that reply


@dataclass
class Keithley2450Simulator:
    """One simulated Keithley 2450 SourceMeter with a cell on its terminals.

    Simulated time (see `instrument.py`): with a finite `time_scale` the cell lives on wall
    time x scale. With an infinite one it lives on the shared `clock` only, so the host's
    driver must sleep on that same clock (the bench passes it to both); a host that does
    not share the clock sets `read_interval_s` instead, a fixed advance per `:READ?`.
    `language` is what `*LANG?` answers; SCPI2400 and TSP refuse the native command tree.
    """

    cell: Any
    _: KW_ONLY
    time_scale: float = math.inf
    clock: SimClock | None = None
    language: str = "SCPI"
    serial: str = "04512345"
    firmware: str = "1.7.12b"
    read_interval_s: float | None = None
    seed: int | None = None
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if self.language not in ("SCPI", "SCPI2400", "TSP"):
            raise SimulatorError(
                f"Keithley 2450 command set {self.language!r} is not SCPI, SCPI2400 or TSP."
            )
        if self.read_interval_s is not None and not self.read_interval_s > 0:
            raise SimulatorError(f"read_interval_s {self.read_interval_s} must be positive.")
        self.clock = self.clock or SimClock(self.time_scale)
        self.instrument = Instrument(
            self.cell,
            clock=self.clock,
            language=self.language,
            serial=self.serial,
            firmware=self.firmware,
            read_interval_s=self.read_interval_s,
            seed=self.seed,
        )
        self.instrument.before_read = self._before_read
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stall_until = 0.0
        self._corrupt_next = False
        self.connections = 0
        self.drops = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on host:port (0 = any free port); returns the address actually bound."""
        try:
            self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_LINE)
        except OSError as exc:
            raise SimulatorError(
                f"cannot listen for the Keithley 2450 simulator on {host}:{port}: {exc.strerror}."
            ) from None
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_connection()
        await cancel_tasks(self._tasks)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    # --- state a test can look at ------------------------------------------------------------
    @property
    def output_on(self) -> bool:
        return self.instrument.smu.output

    @property
    def current_A(self) -> float:
        """The current actually flowing into the cell now (positive = charge)."""
        return self.instrument.smu.current_A

    # --- faults ------------------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        *,
        value: Any = None,
        after: Any = None,
        code: Any = None,
        message: Any = None,
        **_: Any,
    ) -> None:
        """drop now; stall for `value` wall seconds (default 5); error `code` (default -113)
        with `message` on the error queue; corrupt the reply to the `after`-th next :READ?."""
        check_fault(fault, FAULTS, "Keithley 2450")
        if fault == "drop":
            self.drop_connection()
        elif fault == "stall":
            self.stall(number(value, 5.0))
        elif fault == "error":
            self.inject_error(
                int(-113 if code is None else code),
                "Undefined header" if message is None else str(message),
            )
        else:
            self.faults.corrupt_after_reads = int(after or 0)

    def clear(self) -> None:
        """Undo every fault: nothing scheduled, no stall."""
        self.faults = Faults()
        self._stall_until = 0.0

    def state(self) -> dict[str, Any]:
        """Whether the output drives the cell, and the link (for safety tests)."""
        return {
            "cell_on": self.output_on,
            "script_running": False,
            "connections": self.connections,
            "drops": self.drops,
        }

    def drop_connection(self) -> None:
        """Cut every host connection now (the instrument keeps its state)."""
        if self._writers:
            self.drops += 1
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def stall(self, seconds: float) -> None:
        """Stop answering for `seconds` of wall time; commands queue up meanwhile."""
        loop = asyncio.get_running_loop()
        self._stall_until = max(self._stall_until, loop.time() + seconds)

    def inject_error(self, code: int, message: str) -> None:
        """Put an instrument error on the error queue, as a failed operation would."""
        self.instrument.push_error(code, message)

    async def _wait_stall(self) -> None:
        loop = asyncio.get_running_loop()
        remaining = self._stall_until - loop.time()
        while remaining > 0:  # a stall may be extended while we wait
            await asyncio.sleep(remaining)
            remaining = self._stall_until - loop.time()

    async def _before_read(self) -> bool:
        """Fault hook run on each `:READ?`; False means the connection was cut."""
        f = self.faults
        f.drop_after_reads, drop = _count_down(f.drop_after_reads)
        f.stall_after_reads, stall = _count_down(f.stall_after_reads)
        f.corrupt_after_reads, corrupt = _count_down(f.corrupt_after_reads)
        if drop:
            self.drop_connection()
            return False
        if stall:
            self.stall(f.stall_s)
            await self._wait_stall()
        self._corrupt_next = self._corrupt_next or corrupt
        return True

    # --- connections -------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                except asyncio.LimitOverrunError:
                    self.instrument.push_error(-223, "Too much data")
                    await reader.read(MAX_LINE)
                    continue
                except (ConnectionError, OSError):
                    break
                await self._wait_stall()
                message = raw.decode("ascii", errors="replace").strip("\r\n")
                responses = await self.instrument.execute(message)
                if responses is None:
                    break
                if responses:
                    reply = ";".join(responses)
                    if self._corrupt_next:
                        self._corrupt_next = False
                        reply = _corrupt(reply)
                    writer.write(reply.encode("ascii", errors="replace") + b"\n")
                    try:
                        await writer.drain()
                    except (ConnectionError, OSError):
                        break
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._tasks.discard(task)


def _count_down(counter: int | None) -> tuple[int | None, bool]:
    if counter is None:
        return None, False
    if counter <= 0:
        return None, True
    return counter - 1, False


def _corrupt(reply: str) -> str:
    """Flip bits the way a noisy line would: digits and separators turn into junk."""
    return reply.replace(",", "\x1a").replace("E", "\x7f")[: max(1, len(reply) - 3)]
