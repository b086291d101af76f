"""The EmStat4 driver: runs each step as one on-device MethodSCRIPT and streams its data.

Sign convention: the EmStat4 reports anodic (oxidising) current as positive. With the
cathode as working electrode, charging is oxidation, so the instrument's sign equals the
Battery Data Format's (positive = charge). Set `invert_current=True` for a cell wired the
other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentReportedError,
    InstrumentTimeout,
)
from drivers.potentiostat import (
    Capabilities,
    Identity,
    ImpedancePoint,
    Sample,
    StepCommand,
    StepEnd,
)
from drivers.potentiostats.emstat4 import codes
from drivers.potentiostats.emstat4.packages import STATUS_OVERLOAD, parse_package
from drivers.potentiostats.emstat4.scripts import MAX_CURRENT_A, build_script
from drivers.transports import LineTransport

TECHNIQUE_PHASE = {0x000C: "pulse", 0x000D: "relax"}
DEVICE_TYPES = {
    "es4_hr": "EmStat4 HR",
    "es4_lr": "EmStat4 LR",
    "espico": "EmStat Pico",
    "nexus1": "Nexus",
    "mes4hr": "MultiEmStat4 HR",
    "mes4lr": "MultiEmStat4 LR",
}


class EmStat4:
    """One EmStat4 channel behind a serial port, pty or TCP endpoint."""

    def __init__(
        self,
        endpoint: str,
        *,
        name: str = "EmStat4",
        channel: int = 0,
        timeout_s: float = 5.0,
        invert_current: bool = False,
    ) -> None:
        self.name = name
        self.channel = channel
        self.invert_current = invert_current
        self.transport = LineTransport(endpoint, name=name, timeout_s=timeout_s)
        self._running = False
        self._abort_sent = False

    async def connect(self) -> None:
        await self.transport.open()
        async with self.transport.lock:
            await self.transport.write_line("")  # flush a partial command, as the manual advises
            await self.transport.drain_input()

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> EmStat4:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- identity ---------------------------------------------------------------------------
    async def identify(self) -> Identity:
        async with self.transport.lock:
            await self.transport.write_line("t")
            first = await self.transport.read_line()
            second = await self.transport.read_line()
            await self.transport.write_line("i")
            serial_line = await self.transport.read_line()
        if not first.startswith("t") or not second.endswith("*"):
            raise InstrumentReplyError(
                f"{self.name} answered the firmware query with {first!r}/{second!r}, "
                "which is not an EmStat"
            )
        body = first[1:]
        model = next((label for key, label in DEVICE_TYPES.items() if body.startswith(key)), "")
        if not model:
            raise InstrumentReplyError(f"{self.name} reports an unknown device type {body!r}")
        firmware = body[len(next(k for k in DEVICE_TYPES if body.startswith(k))) :].strip()
        return Identity("PalmSens", model, serial=serial_line.removeprefix("i"), firmware=firmware)

    async def capabilities(self) -> Capabilities:
        return Capabilities(
            techniques=frozenset({"rest", "cc", "cv", "eis", "geis", "pulse_train", "sweep"}),
            max_abs_current_A=MAX_CURRENT_A,
            voltage_range_V=(-10.0, 10.0),
            on_device_limits=True,
            can_reattach=True,
            notes=(
                "Steps run as MethodSCRIPT on the instrument, with voltage and current "
                "limits evaluated on the device at each sample. If the host connection "
                "drops, the script keeps running and its output is buffered by the "
                "instrument's USB port until the host reconnects."
            ),
        )

    # -- running a step ---------------------------------------------------------------------
    def _read_timeout(self, command: StepCommand) -> float:
        slowest = command.sample_interval_s
        if command.technique in ("eis", "geis"):
            slowest = max(slowest, 3.0 / min(command.f_start_Hz, command.f_end_Hz))
        return self.transport.timeout_s + 2.0 * slowest

    async def run(self, command: StepCommand) -> AsyncIterator[Sample | ImpedancePoint | StepEnd]:
        """Run one step; yield samples (or impedance points) and finally a StepEnd."""
        if command.technique in ("cc", "pulse_train") and abs(command.current_A) > MAX_CURRENT_A:
            raise InstrumentError(
                f"{self.name} cannot source {abs(command.current_A) * 1e3:.4g} mA "
                f"(its limit is {MAX_CURRENT_A * 1e3:g} mA)"
            )
        lines = build_script(command, self.channel)
        sign = -1.0 if self.invert_current else 1.0
        if sign < 0:
            lines = build_script(_inverted(command), self.channel)
        async with self.transport.lock:
            self._running, self._abort_sent = True, False
            try:
                await self.transport.write_lines(["e", *lines, ""])
                first = await self.transport.read_line()
                error = codes.match_error(first)
                if error:
                    await self.transport.drain_input()
                    raise InstrumentReportedError(codes.describe(*error), code=f"{error[0]:04X}")
                if first != "e":
                    raise InstrumentReplyError(
                        f"{self.name} answered a script with {first!r} instead of 'e'"
                    )
                async for item in self._stream(command, sign):
                    yield item
            finally:
                self._running = False

    async def _stream(
        self, command: StepCommand, sign: float
    ) -> AsyncIterator[Sample | ImpedancePoint | StepEnd]:
        timeout = self._read_timeout(command)
        phase = ""
        end_code: int | None = None
        count = 0
        while True:
            line = await self.transport.read_line(timeout)
            if line == "":
                break
            kind = line[0]
            if kind == "P":
                values = parse_package(line)
                ids = [v.type_id for v in values]
                if ids == ["ja"]:
                    end_code = int(values[0].value)
                    continue
                by_id = {v.type_id: v for v in values}
                if "dc" in by_id:
                    yield ImpedancePoint(by_id["dc"].value, by_id["cc"].value, by_id["cd"].value)
                    count += 1
                    continue
                potential = by_id.get("ab") or by_id.get("da")
                current = by_id.get("ba")
                status = (potential.status if potential else 0) | (current.status if current else 0)
                if potential and potential.status & STATUS_OVERLOAD and command.technique == "cc":
                    await self._abort()
                    await self._finish_script(timeout)
                    raise InstrumentReportedError(
                        f"{self.name} hit its voltage compliance during a constant-current step: "
                        "the cell is open-circuit or disconnected"
                    )
                pulse = by_id.get("ja")
                yield Sample(
                    t_s=by_id["eb"].value if "eb" in by_id else math.nan,
                    voltage_V=potential.value if potential else math.nan,
                    current_A=sign * current.value if current else 0.0,
                    phase=phase,  # type: ignore[arg-type]
                    pulse_index=int(pulse.value) if pulse else None,
                    status=status,
                )
                count += 1
            elif kind == "M":
                try:
                    phase = (
                        TECHNIQUE_PHASE.get(int(line[1:5], 16), "")
                        if (command.technique == "pulse_train")
                        else ""
                    )
                except ValueError as exc:
                    raise InstrumentReplyError(
                        f"{self.name} sent a bad loop line {line!r}"
                    ) from exc
            elif kind in "*+L-C":
                continue
            elif kind == "Z":
                continue  # echo of our own abort
            elif kind == "T":
                continue  # text from send_string
            else:
                error = codes.match_error(line)
                if error:
                    await self.transport.drain_input()
                    raise InstrumentReportedError(codes.describe(*error), code=f"{error[0]:04X}")
                raise InstrumentReplyError(f"{self.name} sent an unexpected line {line!r}")
        if self._abort_sent:
            yield StepEnd("aborted", message="aborted by the host", samples=count)
        elif end_code:
            limit = command.limits[end_code - 1] if end_code <= len(command.limits) else None
            yield StepEnd("limit", limit=limit, message=limit.name if limit else "", samples=count)
        elif command.technique in ("eis", "geis", "pulse_train", "sweep"):
            yield StepEnd("completed", samples=count)
        else:
            fired = next(
                (lim for lim in command.limits if lim.quantity in ("time", "capacity")), None
            )
            yield StepEnd("time" if fired is None else "limit", limit=fired, samples=count)

    async def _finish_script(self, wait_s: float) -> None:
        """Read to the script's closing empty line, so its on_finished (cell_off) has run."""
        with contextlib.suppress(InstrumentTimeout, InstrumentConnectionError):
            while (await self.transport.read_line(wait_s)) != "":
                pass

    async def _abort(self) -> None:
        self._abort_sent = True
        await self.transport.write_line("Z")

    async def abort(self) -> None:
        """Stop a running step at once (the instrument then runs its on_finished: cell_off)."""
        if self._running:
            await self._abort()

    async def safe(self) -> None:
        """Cell off, whatever was running; safe to call at any time."""
        try:
            if self._running:
                await self._abort()
                return
            if not self.transport.connected:
                await self.transport.reconnect(attempts=2)
            async with self.transport.lock:
                await self.transport.write_line("Z")
                await self.transport.drain_input()
                await self.transport.write_lines(["e", "cell_off", ""])
                with contextlib.suppress(InstrumentTimeout):
                    while (await self.transport.read_line(2.0)) != "":
                        pass
        except (InstrumentConnectionError, InstrumentTimeout, asyncio.CancelledError):
            raise
        except InstrumentError:
            pass


def _inverted(command: StepCommand) -> StepCommand:
    from dataclasses import replace

    return replace(command, current_A=-command.current_A)
