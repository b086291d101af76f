"""The EmStat4 driver: runs each step as one on-device MethodSCRIPT and streams its data.

Sign convention: the EmStat4 reports anodic (oxidising) current as positive. With the
cathode as working electrode, charging is oxidation, so the instrument's sign equals the
Battery Data Format's (positive = charge). Set `invert_current=True` for a cell wired the
other way round.

Faults, and what the driver does about each (the cell always ends up off):
- the link drops mid-step: re-attach (reconnect with backoff) and keep streaming the same
  step; samples missed by index are yielded as a `Gap` (see `drivers/README.md`);
- the instrument falls silent: send `Z` and raise `InstrumentTimeout` (how long it waited);
- a package does not decode: abort, read the script out, raise `InstrumentReplyError`;
- the firmware reports `!XXXX`: read the script out, raise `InstrumentReportedError`;
- the cell opens (compliance overload) or shorts (see `health.py`): abort, raise.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import NoReturn, Unpack

from drivers.clock import Clock
from drivers.context import AsyncContext
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentReportedError,
    InstrumentTimeout,
)
from drivers.potentiostat import (
    BASIC_LIMITS,
    Capabilities,
    Identity,
    ImpedancePoint,
    Phase,
    Reattached,
    Sample,
    StepCommand,
    StepEnd,
    StepItem,
)
from drivers.potentiostats.emstat4 import codes
from drivers.potentiostats.emstat4.health import SHORT_VOLTAGE_V, CellFault, is_short
from drivers.potentiostats.emstat4.packages import (
    STATUS_OVERLOAD,
    PackageError,
    PackageValue,
    parse_package,
)
from drivers.potentiostats.emstat4.scripts import (
    END_TYPE,
    INDEX_TYPE,
    MAX_CURRENT_A,
    TECHNIQUES,
    VOLTAGE_RANGE_V,
    build_script,
)
from drivers.potentiostats.emstat4.tally import Tally, step_end
from drivers.transports import LineTransport
from drivers.transports.link import LinkSettings

TECHNIQUE_PHASE: dict[int, Phase] = {0x000C: "pulse", 0x000D: "relax"}
DEVICE_TYPES = {
    "es4_hr": "EmStat4 HR",
    "es4_lr": "EmStat4 LR",
    "espico": "EmStat Pico",
    "nexus1": "Nexus",
    "mes4hr": "MultiEmStat4 HR",
    "mes4lr": "MultiEmStat4 LR",
}
MEASURED_TYPES = {"eb", "ab", "ba", "da", "db", "dc", "cc", "cd"}
NOT_RUNNING = 0x0006
LINK: LinkSettings = {"name": "EmStat4", "reconnect_attempts": 8}  # re-attach for a while
STASH_LINES = 200_000  # lines kept from connect() for attach() to pick up
QUIET_S = 0.05  # silence that ends connect()'s read of buffered output
CONNECT_DRAIN_S = 0.5  # the longest connect() reads buffered output
STALL_PERIODS = 3  # sample periods of silence after which a running step counts as stalled
STALL_FLOOR_S = 3.0  # ... but never fewer seconds than this (a busy link's jitter)
ABORT_GRACE_S = 0.5  # how long a silent instrument gets to answer the abort sent to it
REATTACH_NOTES = (
    "Steps run as MethodSCRIPT on the instrument, with voltage and current limits evaluated "
    "on the device at each sample. Every data package carries the step's sample number. If "
    "the host link drops mid-step, the script keeps running and the instrument's port "
    "buffers its output; the driver reconnects with backoff and continues the same step, "
    "whether it is still running or has ended meanwhile (the buffered tail, with the end "
    "package, arrives on reconnection). Samples lost in flight are reported by index as a "
    "Gap, never skipped silently; duplicates are dropped. It cannot recover lost samples "
    "(MethodSCRIPT streams, it does not store points for replay), or re-attach once the "
    "buffer has overflowed without reporting the overflow as a gap. After the host process "
    "itself restarts, attach() adopts the running step from the instrument's buffer, given "
    "the step and the last sample index the host stored."
)


@dataclass
class _Step:
    """What the driver keeps track of while one step's output comes in."""

    command: StepCommand
    timeout: float
    tally: Tally
    phase: Phase = ""
    end_code: int | None = None  # r from the closing package
    total: int | None = None  # k from the closing package
    last: Sample | None = None
    heard: bool = False  # any line of the step's output arrived


class EmStat4(AsyncContext):
    """One EmStat4 channel behind a serial port, pty or TCP endpoint."""

    opens_with = "connect"

    def __init__(
        self,
        endpoint: str,
        *,
        channel: int = 0,
        invert_current: bool = False,
        reattach: bool = True,
        short_voltage_V: float | None = SHORT_VOLTAGE_V,
        clock: Clock | None = None,
        **link: Unpack[LinkSettings],
    ) -> None:
        settings: LinkSettings = {**LINK, **link}
        self.transport = LineTransport(endpoint, **settings)
        self.name = self.transport.name
        self.channel = channel
        self.invert_current = invert_current
        self.reattach = reattach
        self.short_voltage_V = short_voltage_V
        # Sample intervals are the bench's seconds: on a simulated bench at time scale s a
        # 10 s interval is 10/s wall seconds, and the read timeouts follow.
        self.time_scale = float(getattr(clock, "time_scale", 1.0))
        self._running = False
        self._abort_sent = False
        self._stash: deque[str] = deque(maxlen=STASH_LINES)

    async def connect(self) -> None:
        """Open the port; what the instrument had buffered is kept for `attach()`.

        It reads until the line is quiet for QUIET_S, but never longer than CONNECT_DRAIN_S:
        on a busy line (a step streaming fast) the rest stays in the port, in order, for
        `attach()` to read after the stash.
        """
        await self.transport.open()
        async with self.transport.lock:
            await self.transport.write_line("")  # flush a partial command, as the manual advises
            deadline = time.monotonic() + CONNECT_DRAIN_S
            try:
                while time.monotonic() < deadline:
                    self._stash.append(await self.transport.read_line(QUIET_S))
            except InstrumentTimeout:
                pass

    async def _read(self, wait_s: float) -> str:
        if self._stash:
            return self._stash.popleft()
        return await self.transport.read_line(wait_s)

    async def close(self) -> None:
        await self.transport.close()

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
            techniques=TECHNIQUES,
            max_abs_current_A=MAX_CURRENT_A,
            voltage_range_V=VOLTAGE_RANGE_V,
            on_device_limits=True,
            can_reattach=self.reattach,
            limit_quantities=BASIC_LIMITS | {"dV_dt"},
            notes=REATTACH_NOTES if self.reattach else REATTACH_NOTES + " (turned off here)",
            extra={
                "short_rule": (
                    "off"
                    if self.short_voltage_V is None
                    else f"|V| < {self.short_voltage_V:g} V and < 20 % of the step's peak |V|"
                ),
            },
        )

    # -- running a step ---------------------------------------------------------------------
    def _read_timeout(self, command: StepCommand) -> float:
        """How long the step's stream may be silent before the instrument counts as stalled:
        STALL_PERIODS sample periods (in wall seconds), never less than STALL_FLOOR_S (or
        the link's own timeout, when that is shorter)."""
        slowest = command.sample_interval_s
        if command.technique in ("eis", "geis"):
            slowest = max(slowest, 3.0 / min(command.f_start_Hz, command.f_end_Hz))
        floor = min(self.transport.timeout_s, STALL_FLOOR_S)
        return max(STALL_PERIODS * slowest / self.time_scale, floor)

    @property
    def _sign(self) -> float:
        return -1.0 if self.invert_current else 1.0

    def run(self, command: StepCommand) -> AsyncIterator[StepItem]:
        """Run one step; yield samples (or impedance points) and finally a StepEnd."""
        return self._own(command, start=True)

    def attach(
        self, command: StepCommand, *, after_index: int | None = None
    ) -> AsyncIterator[StepItem]:
        """Adopt a step a previous host process started: stream it on from the buffer.

        Call after `connect()` on a fresh driver. `after_index` is the last sample number the
        host already holds: later gaps are then reported from there, and earlier samples are
        dropped as duplicates; without it the first sample that arrives sets the baseline.
        """
        return self._own(command, after=after_index)

    async def _own(
        self, command: StepCommand, *, start: bool = False, after: int | None = None
    ) -> AsyncIterator[StepItem]:
        """Hold the link for one step and stream it; a consumer that walks away mid-step
        stops it rather than leave it unwatched."""
        script = self._script(command) if start else None
        async with self.transport.lock:
            self._running, self._abort_sent = True, False
            ended = False
            try:
                if script is not None:
                    self._stash.clear()  # output of a step nobody adopted
                    await self._start(script)
                async for item in self._stream(command, adopted=not start, after=after):
                    if isinstance(item, StepEnd):
                        ended, self._running = True, False
                    yield item
            except GeneratorExit:
                if not ended:
                    await self._abandon(1.0)
                raise
            finally:
                self._running = False

    def _script(self, command: StepCommand) -> list[str]:
        if command.technique in ("cc", "pulse_train") and abs(command.current_A) > MAX_CURRENT_A:
            raise InstrumentError(
                f"{self.name} cannot source {abs(command.current_A) * 1e3:.4g} mA "
                f"(its limit is {MAX_CURRENT_A * 1e3:g} mA)"
            )
        return build_script(
            replace(command, current_A=self._sign * command.current_A), self.channel
        )

    async def _start(self, script: list[str]) -> None:
        """Send the script; the instrument confirms it with `e` or refuses it with `!XXXX`."""
        await self.transport.write_lines(["e", *script, ""])
        first = await self.transport.read_line()
        while first.startswith("Z"):  # a late answer to an earlier abort
            first = await self.transport.read_line()
        error = codes.match_error(first)
        if error:
            await self.transport.drain_input()
            raise InstrumentReportedError(codes.describe(*error), code=f"{error[0]:04X}")
        if first != "e":
            raise InstrumentReplyError(
                f"{self.name} answered a script with {first!r} instead of 'e'"
            )

    async def _stream(
        self, command: StepCommand, *, adopted: bool, after: int | None
    ) -> AsyncIterator[StepItem]:
        step = _Step(
            command, self._read_timeout(command), Tally(after or 0, adopted and after is None)
        )
        tail_lost = False
        while True:
            try:
                line = await self._read(step.timeout)
            except InstrumentConnectionError as exc:
                yield await self._reattach(exc, command)
                step.tally.reattached += 1
                continue
            except InstrumentTimeout as exc:
                # raises unless the step ended while the link was down and its tail was lost
                await self._silent(exc, command, adopted or step.tally.reattached > 0)
                tail_lost = True
                break
            step.heard = True
            if line == "":
                break
            async for item in self._take(line, step):
                yield item
        gap = step.tally.close(step.total, self.name)
        if gap is not None:
            yield gap
        tail_lost = tail_lost or (step.end_code is None and (adopted or step.tally.reattached > 0))
        if adopted and tail_lost and not step.heard:
            yield StepEnd(
                "not_running",
                message=f"{self.name} had no step running and nothing of it buffered",
                tail_lost=True,
            )
            return
        yield step_end(
            command,
            step.end_code,
            step.tally,
            step.last,
            tail_lost=tail_lost,
            aborted=self._abort_sent,
        )

    async def _take(self, line: str, step: _Step) -> AsyncIterator[StepItem]:
        """What one line of the script's output means for the step."""
        kind = line[0]
        if kind == "P":
            async for item in self._take_package(line, step):
                yield item
        elif kind == "M":
            try:
                technique_id = int(line[1:5], 16)
            except ValueError as exc:
                confirmed = await self._abandon(step.timeout)
                raise InstrumentReplyError(
                    f"{self.name} sent a bad loop line {line!r}; {_outcome(confirmed)}"
                ) from exc
            if step.command.technique == "pulse_train":
                step.phase = TECHNIQUE_PHASE.get(technique_id, "")
        elif kind not in "*+L-CT" and line != "Z":  # loop markers, text, our own abort's echo
            await self._refuse(line, step)

    async def _take_package(self, line: str, step: _Step) -> AsyncIterator[StepItem]:
        try:
            values = parse_package(line)
        except PackageError as exc:
            confirmed = await self._abandon(step.timeout)
            raise InstrumentReplyError(
                f"{self.name} sent a corrupted data package {line!r} ({exc.reason}) "
                f"during a {step.command.technique} step; {_outcome(confirmed)}"
            ) from exc
        by_id = {v.type_id: v for v in values}
        index = by_id.get(INDEX_TYPE)
        if not MEASURED_TYPES & by_id.keys():  # the closing package: r and k
            if END_TYPE in by_id:
                step.end_code = int(by_id[END_TYPE].value)
            if index is not None:
                step.total = int(index.value)
            return
        if index is not None:
            fresh, gap = step.tally.admit(int(index.value), self.name)
            if not fresh:
                return
            if gap is not None:
                yield gap
        step.tally.received += 1
        if "dc" in by_id:
            yield ImpedancePoint(by_id["dc"].value, by_id["cc"].value, by_id["cd"].value)
            return
        sample = self._sample(by_id, step.phase, index)
        await self._check_cell(step.command, sample, by_id, step.tally, step.timeout)
        step.last = sample
        yield sample

    async def _refuse(self, line: str, step: _Step) -> NoReturn:
        """A line no step output should contain: the firmware's `!XXXX`, or garbage."""
        error = codes.match_error(line)
        if error:
            confirmed = await self._finish_script(step.timeout)
            raise InstrumentReportedError(
                f"{codes.describe(*error)} during a {step.command.technique} step; "
                + (
                    "the script stopped and the cell is off"
                    if confirmed
                    else _outcome(await self._abandon(step.timeout))
                ),
                code=f"{error[0]:04X}",
            )
        confirmed = await self._abandon(step.timeout)
        raise InstrumentReplyError(
            f"{self.name} sent an unexpected line {line!r}; {_outcome(confirmed)}"
        )

    def _sample(
        self, by_id: dict[str, PackageValue], phase: Phase, index: PackageValue | None
    ) -> Sample:
        potential = by_id.get("ab") or by_id.get("da")
        current = by_id.get("ba")
        pulse = by_id.get("ja")
        status = (potential.status if potential else 0) | (current.status if current else 0)
        return Sample(
            t_s=by_id["eb"].value if "eb" in by_id else math.nan,
            voltage_V=potential.value if potential else math.nan,
            current_A=self._sign * current.value if current else 0.0,
            phase=phase,
            pulse_index=int(pulse.value) if pulse else None,
            status=status,
            index=int(index.value) if index is not None else None,
        )

    async def _check_cell(
        self,
        command: StepCommand,
        sample: Sample,
        by_id: dict[str, PackageValue],
        tally: Tally,
        wait_s: float,
    ) -> None:
        """Open (compliance overload) and short (collapse, see health.py) under forced current."""
        potential = by_id.get("ab")
        forced = command.technique == "cc" or (
            command.technique == "pulse_train" and sample.phase == "pulse"
        )
        if not forced or sample.current_A == 0.0:
            return
        if potential and potential.status & STATUS_OVERLOAD and command.technique == "cc":
            confirmed = await self._abandon(wait_s)
            raise InstrumentReportedError(
                f"{self.name} hit its voltage compliance during a constant-current step: "
                f"the cell is open-circuit or disconnected; {_outcome(confirmed)}"
            )
        if is_short(sample.voltage_V, tally.peak_V, self.short_voltage_V):
            confirmed = await self._abandon(wait_s)
            before = "" if tally.peak_V is None else f" (it was {tally.peak_V:.3f} V earlier)"
            raise CellFault(
                f"cell shorted: {self.name} measured {sample.voltage_V * 1e3:.2f} mV at "
                f"{sample.current_A * 1e3:.4g} mA, t = {sample.t_s:g} s into a "
                f"{command.technique} step{before}; {_outcome(confirmed)}",
                kind="short",
            )
        if math.isfinite(sample.voltage_V):
            tally.peak_V = max(tally.peak_V or 0.0, abs(sample.voltage_V))

    # -- link faults ------------------------------------------------------------------------
    async def _reattach(self, cause: InstrumentConnectionError, command: StepCommand) -> Reattached:
        """Reconnect with backoff; the step goes on on the instrument meanwhile."""
        if not self.reattach:
            raise InstrumentConnectionError(
                f"{cause}; re-attach is off, so the {command.technique} step carries on "
                "unwatched on the instrument under its own limits (cell_off when it ends)"
            ) from cause
        started = time.monotonic()
        try:
            link = self.transport.link
            await self.transport.reconnect(
                attempts=link.reconnect_attempts, first_delay_s=link.reconnect_delay_s
            )
        except InstrumentConnectionError as exc:
            raise InstrumentConnectionError(
                f"{cause}, and re-attaching failed after {link.reconnect_attempts} attempts "
                f"over {time.monotonic() - started:.1f} s; the {command.technique} step carries "
                "on unwatched on the instrument under its own limits (cell_off when it ends)"
            ) from exc
        down = time.monotonic() - started
        return Reattached(
            down_s=down,
            message=(
                f"{cause}; re-attached to the running {command.technique} step after {down:.2f} s"
            ),
        )

    async def _silent(self, exc: InstrumentTimeout, command: StepCommand, reattached: bool) -> None:
        """The instrument fell silent mid-step: send `Z` and see what it says.

        Returns when it answers that no script is running and we re-attached in this step
        (the end of the step was lost with the connection); raises otherwise.
        """
        grace = min(self.transport.timeout_s, ABORT_GRACE_S)
        try:
            await self.transport.write_line("Z")
            while True:
                line = await self.transport.read_line(grace)
                error = codes.match_error(line)
                if line.startswith("Z") and error and error[0] == NOT_RUNNING:
                    if reattached:
                        return
                    raise InstrumentTimeout(
                        f"{exc} during a {command.technique} step, and the instrument then "
                        "reported no script running: the step ended without its closing lines"
                    ) from exc
                if line == "":
                    raise InstrumentTimeout(
                        f"{exc} during a {command.technique} step; it answered the abort "
                        "when the link recovered: the step stopped and the cell is off"
                    ) from exc
        except (InstrumentTimeout, InstrumentConnectionError) as err:
            if err.__cause__ is exc:
                raise
            raise InstrumentTimeout(
                f"{exc} during a {command.technique} step: the instrument stalled (silent for "
                f"{STALL_PERIODS} sample periods of {command.sample_interval_s:g} s or more); "
                "an abort (Z) was sent, which the instrument has not confirmed: its script "
                "switches the cell off the moment it answers again, and safe() checks it"
            ) from exc

    async def _finish_script(self, wait_s: float) -> bool:
        """Read to the script's closing empty line, so its on_finished (cell_off) has run."""
        try:
            while (await self.transport.read_line(wait_s)) != "":
                pass
        except (InstrumentTimeout, InstrumentConnectionError):
            return False
        return True

    async def _abandon(self, wait_s: float) -> bool:
        """Abort the running script and read it out; True once the instrument confirmed."""
        try:
            await self._abort()
        except InstrumentError:
            return False
        return await self._finish_script(wait_s)

    async def _abort(self) -> None:
        self._abort_sent = True
        await self.transport.write_line("Z")

    async def abort(self) -> None:
        """Stop a running step at once (the instrument then runs its on_finished: cell_off)."""
        if self._running:
            await self._abort()

    async def safe(self) -> None:
        """Cell off, whatever was running; raises InstrumentTimeout when it cannot confirm."""
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
                while (await self.transport.read_line(2.0)) != "":
                    pass
        except (InstrumentConnectionError, InstrumentTimeout, asyncio.CancelledError):
            raise
        except InstrumentError:
            pass


def _outcome(confirmed: bool) -> str:
    if confirmed:
        return "the step was aborted and the cell switched off"
    return "an abort was sent but the instrument has not confirmed it; the cell state is unknown"
