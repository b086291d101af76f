"""The Keithley 2450 SourceMeter as a galvanostat: native SCPI over VISA, host-side steps.

The 2450 has no step engine of its own that a battery test could use, so every step runs
as a loop on the host: the driver sets the current, reads `:READ? "defbuffer1", SOUR,
READ, REL` every `sample_interval_s`, evaluates the step's limits itself and ends the step.

Wiring and sign: FORCE HI and SENSE HI go to the cell's positive terminal, LO to the
negative. The SMU's positive current then flows into the positive terminal, which charges
the cell, so the instrument's sign is the Battery Data Format's (positive = charge) and no
conversion is needed. Samples carry the measured source current (source readback on).

Voltage compliance: each step sets `:SOUR:CURR:VLIM` just beyond its voltage limits (see
`limits.compliance_voltage`). If the SMU reports the limit tripped, the driver decides:
- the voltage sits at +VLIM and the step has an upper voltage limit (or at −VLIM with a
  negative lower limit): the voltage crossed that limit between two samples, and the step
  ends with that limit, as it would have at the next sample. (A full cell and an open one
  both sit at +VLIM on a charge; the end message says so when almost no current flows.)
- otherwise, almost no current flows (under 5 % of the set value): the cell or its leads
  are open, and the step fails with `CellFault` (kind "open");
- anything else (a rest pushed into the limit, say) is a `CellFault` (kind "compliance").
A voltage that falls by more than `max_jump_V` to under a fifth of its value between two
samples at the same set current is a `CellFault` too: a short collapses the voltage at
once, while even a steep end of discharge does not take a cell to near 0 V in one sample.
Every fault and every transport error switches the output off before the error reaches
the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Unpack

from drivers.clock import Clock as HostClock
from drivers.clock import WallClock
from drivers.context import AsyncContext
from drivers.errors import (
    CellFault,
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentReportedError,
)
from drivers.potentiostat import (
    BASIC_LIMITS,
    Capabilities,
    Identity,
    ImpedancePoint,
    Phase,
    Sample,
    StepCommand,
    StepEnd,
    StepItem,
    StepLimit,
)
from drivers.potentiostats.keithley2450.limits import compliance_voltage, first_fired, is_upper
from drivers.relaxation import DriftWatch
from drivers.retry import backoff
from drivers.transports.link import LinkSettings
from drivers.transports.visa import VisaTransport

log = logging.getLogger(__name__)

MAX_CURRENT_A = 1.05
VOLTAGE_RANGE_V = (-200.0, 200.0)
# The step techniques the host-side loop runs (a DC SourceMeter: no EIS, no sweeps).
TECHNIQUES = frozenset({"rest", "cc", "pulse_train"})
READ_QUERY = ':READ? "defbuffer1", SOUR, READ, REL'
MODELS = ("2450", "2460", "2461")
OPEN_CURRENT_FRACTION = 0.05
COLLAPSE_FRACTION = 0.2
MAX_ERRORS_DRAINED = 50
EPS_S = 1e-6


@dataclass(frozen=True)
class _Reading:
    current_A: float
    voltage_V: float
    rel_s: float


@dataclass(frozen=True)
class _Phase:
    name: Phase
    index: int | None
    current_A: float
    length_s: float


class Keithley2450(AsyncContext):
    """One Keithley 2450 used as a galvanostat through a VISA resource.

    `clock` is what the host loop waits on (wall time by default; a simulated bench passes
    its scaled clock). `max_voltage_V` is the highest voltage the cell may ever see: VLIM
    sits just above it during rests and during charges that have no upper voltage limit.
    `vlim_margin_V` is how far beyond a step's voltage limits VLIM goes. `max_jump_V`
    (None = off) sets the short-circuit check. `visa_backend` selects the VISA library
    (`@py` = pyvisa-py; `@ivi` = a vendor VISA; `file.yaml@sim` = pyvisa-sim).
    """

    opens_with = "connect"

    def __init__(
        self,
        resource: str,
        *,
        four_wire: bool = True,
        nplc: float = 1.0,
        clock: HostClock | None = None,
        vlim_margin_V: float = 0.05,
        max_voltage_V: float = 5.0,
        max_jump_V: float | None = 1.0,
        visa_backend: str = "@py",
        **link: Unpack[LinkSettings],
    ) -> None:
        settings: LinkSettings = {"name": "Keithley 2450", **link}
        self.transport = VisaTransport(resource, backend=visa_backend, **settings)
        self.name = name = self.transport.name
        if not 0.01 <= nplc <= 10.0:
            raise InstrumentError(f"{name}: nplc {nplc} is outside the 2450's 0.01-10 range")
        if not 0.0 < vlim_margin_V < 10.0:
            raise InstrumentError(f"{name}: vlim_margin_V {vlim_margin_V} must be 0-10 V")
        if not 0.0 < max_voltage_V <= VOLTAGE_RANGE_V[1]:
            raise InstrumentError(f"{name}: max_voltage_V {max_voltage_V} must be 0-200 V")
        self.four_wire = four_wire
        self.nplc = nplc
        self.clock: HostClock = clock if clock is not None else WallClock()
        self.vlim_margin_V = vlim_margin_V
        self.max_voltage_V = max_voltage_V
        self.max_jump_V = max_jump_V
        self._abort = asyncio.Event()
        self._running: object | None = None  # the running step's token
        self._vlim_V = math.inf

    def __str__(self) -> str:
        return str(self.transport)

    # --- connection --------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the resource, check the command set, and make output-off open the relay."""
        await self.transport.open()
        try:
            await self._check_language()
            for code, message in await self._drain_errors():  # not ours: log, don't fail
                log.warning("%s had error %s queued before we connected: %s", self, code, message)
            await self.transport.write(":OUTP:CURR:SMOD HIMP")
        except InstrumentError:
            await self.transport.close()
            raise

    async def close(self) -> None:
        await self.transport.shutdown()

    async def _check_language(self) -> None:
        language = (await self.transport.query("*LANG?")).strip().strip('"').upper()
        if language != "SCPI":
            raise InstrumentError(
                f"{self} uses the {language or 'unknown'} command set; switch it to SCPI "
                "(MENU > System > Settings > Command Set > SCPI, then restart the instrument)"
            )

    # --- identity ----------------------------------------------------------------------------
    async def identify(self) -> Identity:
        reply = await self.transport.query("*IDN?")
        parts = [part.strip() for part in reply.split(",")]
        model = parts[1].upper().removeprefix("MODEL").strip() if len(parts) >= 2 else ""
        if len(parts) < 4 or "KEITHLEY" not in parts[0].upper() or model not in MODELS:
            raise InstrumentReplyError(
                f"{self} answered *IDN? with {reply!r}, which is not a Keithley 2450"
            )
        await self._check_language()
        return Identity("Keithley Instruments", model, serial=parts[2], firmware=parts[3])

    async def capabilities(self) -> Capabilities:
        return Capabilities(
            techniques=TECHNIQUES,
            max_abs_current_A=MAX_CURRENT_A,
            voltage_range_V=VOLTAGE_RANGE_V,
            on_device_limits=False,
            can_reattach=False,
            limit_quantities=BASIC_LIMITS | {"dV_dt"},
            notes=(
                "A DC SourceMeter used as a galvanostat: steps run as a host-side loop that "
                "reads the SMU every sample interval, so limits act at the sample interval "
                "and a voltage compliance just beyond the step's limits backs them up. It "
                "cannot re-attach: the step lives on the host, and a lost connection makes "
                "the driver switch the output off. No EIS (a DC instrument)."
            ),
            extra={
                "sign": "positive current = charge; wire HI to the cell's positive terminal",
                "sensing": "4-wire" if self.four_wire else "2-wire",
                "nplc": f"{self.nplc:g}",
            },
        )

    def attach(
        self, command: StepCommand, *, after_index: int | None = None
    ) -> AsyncIterator[StepItem]:
        """Refused: a host-side step dies with its host, so there is nothing to re-attach to."""
        raise InstrumentError(
            f"{self} cannot re-attach to a {command.technique} step (can_reattach is False): "
            "its steps run as a host-side loop, and the SMU takes no readings without the "
            "host; run the step again from its start"
        )

    # --- safety ------------------------------------------------------------------------------
    async def abort(self) -> None:
        """Stop a running step at its next sample (the scheduler's host-side limits)."""
        self._abort.set()

    async def safe(self, attempts: int = 3) -> None:
        """Output off (the relay opens: HIMP), reconnecting if needed; confirm with :OUTP?."""
        if self._running is not None:
            self._abort.set()
        try:
            await backoff(
                f"switching the output of {self} off",
                retry_on=InstrumentError,
                attempts=attempts,
                first_delay_s=0.1,
            )(self._output_off)
        except InstrumentError as exc:
            raise InstrumentConnectionError(
                f"could not switch the output of {self} off after {attempts} attempts: {exc}"
            ) from exc

    async def _output_off(self) -> None:
        try:
            await self.transport.open()  # no-op when connected; a fresh driver may be cold
            await self.transport.write(":OUTP:CURR:SMOD HIMP")  # off = relay open
            await self.transport.write(":OUTP OFF")
            state = await self.transport.query(":OUTP?")
            if state.strip() not in ("0", "OFF"):
                raise InstrumentReplyError(f"{self} still reports output {state!r} after :OUTP OFF")
        except InstrumentError:
            await self.transport.drop()  # start the next attempt on a fresh connection
            raise

    async def _safe_quietly(self) -> None:
        with contextlib.suppress(InstrumentError):
            await self.safe()

    # --- errors ------------------------------------------------------------------------------
    async def check_errors(self) -> None:
        """Drain `:SYST:ERR?`; raise the first error the instrument reported, if any."""
        found = await self._drain_errors()
        if found:
            code, message = found[0]
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise InstrumentReportedError(
                f"{self} reported error {code}: {message}{more}", code=code
            )

    async def _drain_errors(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for _ in range(MAX_ERRORS_DRAINED):
            code, message = _parse_error(await self.transport.query(":SYST:ERR?"), self)
            if code == "0":
                break
            found.append((code, message))
        return found

    # --- running a step ----------------------------------------------------------------------
    def _validate(self, command: StepCommand) -> None:
        if command.technique in ("eis", "geis"):
            raise InstrumentError(
                f"the Keithley 2450 cannot do EIS; use an EmStat4 channel (step sent to {self})"
            )
        if command.technique in ("cv", "sweep"):
            what = "a constant-voltage hold" if command.technique == "cv" else "a voltage sweep"
            raise InstrumentError(
                f"{self} runs as a galvanostat (rest, cc, pulse_train) and cannot do {what}"
            )
        if command.technique not in ("rest", "cc", "pulse_train"):
            raise InstrumentError(f"{self} does not know the technique {command.technique!r}")
        if not (math.isfinite(command.current_A) and abs(command.current_A) <= MAX_CURRENT_A):
            raise InstrumentError(
                f"{self} cannot source {command.current_A:g} A; the 2450's limit is "
                f"±{MAX_CURRENT_A:g} A"
            )
        if not (math.isfinite(command.duration_s) and command.duration_s > 0):
            raise InstrumentError(f"{self}: a step needs a positive, finite duration")
        if not (math.isfinite(command.sample_interval_s) and command.sample_interval_s > 0):
            raise InstrumentError(f"{self}: a step needs a positive sample interval")
        if command.technique == "pulse_train" and (
            command.n_pulses < 1 or command.pulse_s <= 0 or command.relax_s < 0
        ):
            raise InstrumentError(
                f"{self}: a pulse train needs n_pulses >= 1, pulse_s > 0 and relax_s >= 0"
            )

    @staticmethod
    def _phases(command: StepCommand) -> list[_Phase]:
        if command.technique == "rest":
            return [_Phase("", None, 0.0, command.duration_s)]
        if command.technique == "cc":
            return [_Phase("", None, command.current_A, command.duration_s)]
        phases: list[_Phase] = []
        for index in range(command.n_pulses):
            phases.append(_Phase("pulse", index, command.current_A, command.pulse_s))
            if command.relax_s > 0:
                phases.append(_Phase("relax", index, 0.0, command.relax_s))
        return phases

    async def run(self, command: StepCommand) -> AsyncIterator[Sample | ImpedancePoint | StepEnd]:
        """Run one step as a host-side loop; yield Samples, then one StepEnd."""
        self._validate(command)
        if self._running is not None:
            raise InstrumentError(f"{self} is already running a step")
        token = self._running = object()
        self._abort.clear()
        ended = False
        try:
            async for item in self._run(command):
                if isinstance(item, StepEnd):
                    # the step is over once its end is out, even if the consumer never
                    # resumes this generator (a runner that breaks at the StepEnd)
                    ended, self._running = True, None
                yield item
        except (InstrumentError, asyncio.CancelledError):
            await self._safe_quietly()
            raise
        except GeneratorExit:
            if not ended:  # abandoned mid-step: nobody is watching the limits any more
                await self._safe_quietly()
            raise
        finally:
            if self._running is token:
                self._running = None

    async def _setup(self, command: StepCommand) -> None:
        """Configure source and sense, find the start voltage, set VLIM, clear the buffer."""
        for line in (
            ":SOUR:FUNC CURR",
            ":SOUR:CURR:RANG:AUTO ON",
            ":SOUR:CURR:READ:BACK ON",
            ':SENS:FUNC "VOLT"',
            ":SENS:VOLT:RANG:AUTO ON",
            f":SENS:VOLT:NPLC {_nrf(self.nplc)}",
            f":SENS:VOLT:RSEN {'ON' if self.four_wire else 'OFF'}",
            ":OUTP:CURR:SMOD HIMP",
            f":SOUR:CURR {_nrf(0.0)}",
            f":SOUR:CURR:VLIM {_nrf(self._ceiling_vlim())}",
            ":OUTP ON",
        ):
            await self.transport.write(line)
        start = await self._read()  # at 0 A: the cell's voltage before the step
        self._vlim_V = compliance_voltage(
            command, start.voltage_V, margin_V=self.vlim_margin_V, ceiling_V=self.max_voltage_V
        )
        await self.transport.write(f":SOUR:CURR:VLIM {_nrf(self._vlim_V)}")
        await self.transport.write(':TRAC:CLE "defbuffer1"')
        await self.check_errors()

    async def _read(self) -> _Reading:
        reply = await self.transport.query(READ_QUERY)
        fields = reply.split(",")
        try:
            if len(fields) != 3:
                raise ValueError
            values = [float(field) for field in fields]
        except ValueError:
            raise InstrumentReplyError(
                f"{self} answered :READ? with {reply[:60]!r}, not source,reading,time"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise InstrumentReplyError(f"{self} answered :READ? with a non-finite value {reply!r}")
        return _Reading(current_A=values[0], voltage_V=values[1], rel_s=values[2])

    async def _wait_until(self, t: float) -> None:
        """Sleep on the host clock until t, or until abort() is called."""
        if self._abort.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep_until(t))
        stopper = asyncio.ensure_future(self._abort.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _run(self, command: StepCommand) -> AsyncIterator[Sample | StepEnd]:
        await self._setup(command)
        interval = command.sample_interval_s
        duration = command.duration_s
        time_marks = sorted(
            lim.value for lim in command.limits if lim.quantity == "time" and lim.value > 0
        )
        origin: float | None = None
        rel0 = 0.0
        q_Ah = 0.0
        count = 0
        last: tuple[float, float] | None = None  # (t, current) of the previous sample
        phase_start = 0.0
        for phase in self._phases(command):
            await self.transport.write(f":SOUR:CURR {_nrf(phase.current_A)}")
            phase_end = min(phase_start + phase.length_s, duration)
            previous_v: float | None = None
            watches = _watches(command, phase)
            while True:
                reading = await self._read()
                if origin is None:
                    origin, rel0 = self.clock.now(), reading.rel_s
                t = reading.rel_s - rel0
                if last is not None:
                    q_Ah += 0.5 * (abs(last[1]) + abs(reading.current_A)) * (t - last[0]) / 3600
                last = (t, reading.current_A)
                ended = await self._check_compliance(command, phase, reading)
                self._check_jump(phase, previous_v, reading)
                previous_v = reading.voltage_V
                yield Sample(
                    t_s=t,
                    voltage_V=reading.voltage_V,
                    current_A=reading.current_A,
                    phase=phase.name,
                    pulse_index=phase.index,
                )
                count += 1
                fired, note = ended or (None, "")
                fired = fired or first_fired(
                    command.limits,
                    t_s=t,
                    voltage_V=reading.voltage_V,
                    current_A=reading.current_A,
                    q_Ah=q_Ah,
                )
                drifted = [w.limit for w in watches if w.update(t - phase_start, reading.voltage_V)]
                if drifted and phase.name == "relax" and fired is None:
                    phase_end = t  # relaxed: the next pulse starts now
                    break
                fired = fired or (drifted[0] if drifted else None)
                if fired is not None:
                    end = StepEnd("limit", fired, note or _describe(fired), count)
                    yield await self._finish(end)
                    return
                if self._abort.is_set():
                    end = StepEnd("aborted", message="aborted by the host", samples=count)
                    yield await self._finish(end)
                    return
                now = self.clock.now() - origin
                if max(now, t) >= duration - EPS_S:
                    yield await self._finish(StepEnd("time", message="duration", samples=count))
                    return
                if max(now, t) >= phase_end - EPS_S:
                    break
                wake = (math.floor(now / interval + EPS_S) + 1) * interval
                wake = min([wake, phase_end, *(m for m in time_marks if m > now + EPS_S)])
                await self._wait_until(origin + wake)
                if self._abort.is_set():  # woken early: end now rather than read once more
                    end = StepEnd("aborted", message="aborted by the host", samples=count)
                    yield await self._finish(end)
                    return
            phase_start = phase_end
        yield await self._finish(StepEnd("completed", message="all pulses done", samples=count))

    async def _finish(self, end: StepEnd) -> StepEnd:
        """Leave the cell at rest (0 A, output on) and make sure nothing went wrong."""
        await self.transport.write(f":SOUR:CURR {_nrf(0.0)}")
        await self.transport.write(f":SOUR:CURR:VLIM {_nrf(self._ceiling_vlim())}")
        await self.check_errors()
        return end

    def _ceiling_vlim(self) -> float:
        return self.max_voltage_V + self.vlim_margin_V

    async def _check_compliance(
        self, command: StepCommand, phase: _Phase, reading: _Reading
    ) -> tuple[StepLimit, str] | None:
        """If the reading sits at the voltage limit, ask whether it tripped and judge it."""
        threshold = self._vlim_V - max(0.5 * self.vlim_margin_V, 0.005)
        if abs(reading.voltage_V) < threshold:
            return None
        tripped = (await self.transport.query(":SOUR:CURR:VLIM:TRIP?")).strip()
        if tripped not in ("1", "ON"):
            return None
        v = reading.voltage_V
        set_a = phase.current_A
        starved = set_a != 0.0 and abs(reading.current_A) < OPEN_CURRENT_FRACTION * abs(set_a)
        for limit in command.limits:
            outward = (v > 0 and is_upper(limit) and limit.value > 0) or (
                v < 0 and not is_upper(limit) and limit.value < 0
            )
            if limit.quantity == "voltage" and outward:
                note = f"{_describe(limit)} (reached through the {self._vlim_V:g} V compliance"
                if starved:
                    note += "; almost no current flowed: the cell is full or its leads are open"
                return limit, note + ")"
        if starved:
            raise CellFault(
                f"{self} hit its {self._vlim_V:g} V compliance at {v:.4g} V with almost no "
                f"current flowing ({reading.current_A:.3g} A of {set_a:.3g} A): the cell or its "
                "leads are open",
                "open",
            )
        raise CellFault(
            f"{self} hit its {self._vlim_V:g} V compliance at {v:.4g} V while sourcing "
            f"{set_a:.3g} A, outside every voltage limit of the step: check the cell and leads",
            "compliance",
        )

    def _check_jump(self, phase: _Phase, previous_v: float | None, reading: _Reading) -> None:
        """A voltage that collapses towards 0 V at a steady current is a short circuit."""
        if self.max_jump_V is None or previous_v is None:
            return
        fall = abs(previous_v) - abs(reading.voltage_V)
        if fall > self.max_jump_V and abs(reading.voltage_V) < COLLAPSE_FRACTION * abs(previous_v):
            raise CellFault(
                f"{self} saw the cell voltage collapse from {previous_v:.4g} V to "
                f"{reading.voltage_V:.4g} V between two samples at {phase.current_A:.3g} A: "
                "the cell or its leads look shorted",
                "short",
            )


def _watches(command: StepCommand, phase: _Phase) -> list[DriftWatch]:
    """The |dV/dt| limits a phase watches: a relaxation's own, or the step's."""
    limits = command.relax_limits if phase.name == "relax" else command.limits
    return [DriftWatch(lim) for lim in limits if lim.quantity == "dV_dt"]


def _nrf(value: float) -> str:
    """A number as SCPI <NRf> in one fixed form (10 significant digits, exponent)."""
    return f"{value:.9E}"


def _describe(limit: StepLimit) -> str:
    if limit.name:
        return limit.name
    units = {
        "voltage": "V",
        "current": "A",
        "abs_current": "A",
        "time": "s",
        "capacity": "Ah",
        "dV_dt": "V/s",
    }
    return f"{limit.quantity} {limit.op} {limit.value:g} {units[limit.quantity]}"


def _parse_error(reply: str, where: object) -> tuple[str, str]:
    """`-113,"Undefined header"` (2450s may append `;<type>;<time>`) -> (code, text)."""
    code, sep, rest = reply.partition(",")
    code = code.strip()
    try:
        int(code)
    except ValueError:
        raise InstrumentReplyError(f"{where} answered :SYST:ERR? with {reply!r}") from None
    if not sep:
        return code, ""
    return ("0" if int(code) == 0 else code), rest.strip().strip('"').strip()
