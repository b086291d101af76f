"""The 2450's SCPI command tree, error queue and reading buffers, over the SMU model.

Time: every program message first lets the simulated time that passed since the previous
one elapse on the cell at the old settings, so a `:SOUR:CURR` change or an `:OUTP OFF`
takes effect at the right moment. The time comes from the shared `SimClock`:
- finite `time_scale`: wall time × scale, whatever the host does;
- infinite `time_scale`: simulated time moves only when someone sleeps on the shared clock.
  A host that shares the clock (the bench's drivers do) announces its waits that way, so a
  `:READ?` after the host slept 10 s sees exactly 10 s of cell time. For a host that does
  not share the clock, set `read_interval_s`: each `:READ?` then also advances the clock by
  that fixed interval before measuring.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import InitVar, dataclass, field
from typing import Any

from simulators.clock import SimClock
from simulators.keithley2450 import scpi
from simulators.keithley2450.scpi import Param, Pattern, ScpiError, Unit
from simulators.keithley2450.smu import (
    MAX_CURRENT_A,
    MAX_VOLTAGE_V,
    MIN_ILIM_A,
    MIN_VLIM_V,
    SMU,
)

log = logging.getLogger(__name__)

ERROR_QUEUE_SIZE = 21
DEVICE_ERROR = (-300, "Device-specific error")
DEFAULT_BUFFERS = ("DEFBUFFER1", "DEFBUFFER2")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MAX_ELEMENTS = 14

ELEMENTS = {  # long form -> short form of the buffer elements the 2450 returns
    "READING": "READ",
    "SOURCE": "SOUR",
    "RELATIVE": "REL",
    "SECONDS": "SEC",
    "FRACTIONAL": "FRAC",
    "TSTAMP": "TST",
    "DATE": "DATE",
    "TIME": "TIME",
    "STATUS": "STAT",
    "SOURSTATUS": "SOURSTAT",
    "UNIT": "UNIT",
    "SOURUNIT": "SOURUNIT",
}
UNITS = {"VOLT": "Volt DC", "CURR": "Amp DC"}


@dataclass
class Reading:
    t_s: float  # simulated clock time
    rel_s: float
    source: float
    reading: float
    limited: bool
    sense: str
    source_function: str


@dataclass
class Buffer:
    capacity: int
    readings: deque[Reading] = field(default_factory=deque)
    first_t: float | None = None

    def clear(self) -> None:
        self.readings.clear()
        self.first_t = None

    def add(self, reading: Reading) -> None:
        if len(self.readings) >= self.capacity:
            self.readings.popleft()
        self.readings.append(reading)


_I_LEVEL = ":SOURce#:CURRent[:LEVel][:IMMediate][:AMPLitude]"
_V_LEVEL = ":SOURce#:VOLTage[:LEVel][:IMMediate][:AMPLitude]"
# The SMU numbers a command sets: (lowest, highest, the value DEFault sets).
_SMU_NUMBERS = {
    "current_level_A": (-MAX_CURRENT_A, MAX_CURRENT_A, 0.0),
    "voltage_level_V": (-MAX_VOLTAGE_V, MAX_VOLTAGE_V, 0.0),
    "vlim_V": (MIN_VLIM_V, MAX_VOLTAGE_V, 21.0),
    "ilim_A": (MIN_ILIM_A, MAX_CURRENT_A, 105e-6),
}

Handler = Callable[[tuple[Param, ...]], Awaitable[str | None]]


@dataclass(eq=False, repr=False)
class Instrument:
    """Executes parsed SCPI units against one SMU and keeps the instrument's state.

    Its identity and pacing come from the simulator (`Keithley2450Simulator`), which holds
    their defaults.
    """

    cell: Any
    clock: SimClock
    language: str
    serial: str
    firmware: str
    read_interval_s: float | None
    seed: InitVar[int | None]
    buffer_capacity: int = 100_000

    def __post_init__(self, seed: int | None) -> None:
        self.smu = SMU(self.cell, seed=seed)
        self.errors: deque[tuple[int, str]] = deque()
        self.buffers: dict[str, Buffer] = {}
        self._t_state = self.clock.now()
        self.reads = 0
        self.before_read: Callable[[], Awaitable[bool]] | None = None  # fault hook
        self._tree = self._build_tree()
        self._reset_buffers()

    # --- errors ------------------------------------------------------------------------------
    def push_error(self, code: int, text: str) -> None:
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = scpi.QUEUE_OVERFLOW
            return
        self.errors.append((code, text))

    # --- time --------------------------------------------------------------------------------
    def sync(self) -> None:
        """Let the cell live through the simulated time since the last message."""
        now = self.clock.now()
        if now > self._t_state:
            self.smu.advance(now - self._t_state)
            self._t_state = now

    # --- execution ---------------------------------------------------------------------------
    async def execute(self, message: str) -> list[str] | None:
        """Run one program message; return the response units, or None if the host is cut."""
        self.sync()
        responses: list[str] = []
        for unit in scpi.parse_message(message):
            if isinstance(unit, ScpiError):
                self.push_error(unit.code, unit.text)
                break
            try:
                reply = await self._dispatch(unit)
            except ScpiError as exc:
                self.push_error(exc.code, exc.text)
                continue
            except _HostCut:
                return None
            except Exception as exc:  # the model failed: report it the way the 2450 would
                log.exception("Keithley 2450 simulator failed on %r", unit.text)
                self.push_error(DEVICE_ERROR[0], f"{DEVICE_ERROR[1]}; {exc}")
                continue
            if reply is not None:
                responses.append(reply)
        return responses

    async def _dispatch(self, unit: Unit) -> str | None:
        if unit.common:
            handler = self._common.get((unit.common, unit.query))
            if handler is None:
                raise ScpiError(scpi.UNDEFINED_HEADER, unit.text)
            return await handler(unit.params)
        if self.language == "TSP":
            raise ScpiError(scpi.UNDEFINED_HEADER, f"{unit.text} (command set is TSP)")
        for pattern, query, handler in self._tree:
            if query == unit.query and pattern.match(list(unit.tokens)):
                if self.language != "SCPI" and unit.tokens[0] not in ("SYST", "SYSTEM"):
                    break  # 2400 emulation: only the shared SYSTem subsystem is modelled
                return await handler(unit.params)
        raise ScpiError(scpi.UNDEFINED_HEADER, unit.text)

    # --- the command tree --------------------------------------------------------------------
    def _build_tree(self) -> list[tuple[Pattern, bool, Handler]]:
        self._common: dict[tuple[str, bool], Handler] = {
            ("*IDN", True): self._idn,
            ("*LANG", True): self._lang_q,
            ("*LANG", False): self._lang,
            ("*RST", False): self._rst,
            ("*CLS", False): self._cls,
            ("*OPC", True): _const("1"),
            ("*OPC", False): _none,
            ("*WAI", False): _none,
            ("*ESR", True): _const("0"),
            ("*STB", True): self._stb,
        }
        table: list[tuple[str, bool, Handler]] = [
            (":SYSTem:ERRor[:NEXT]", True, self._err_next),
            (":SYSTem:ERRor:COUNt", True, self._err_count),
            (":SYSTem:CLEar", False, self._cls),
            (":ABORt", False, _none),
            (":SOURce#:FUNCtion[:MODE]", False, self._set_source_function),
            (":SOURce#:FUNCtion[:MODE]", True, lambda p: self._q(p, self.smu.source_function)),
            (_I_LEVEL, False, self._set_number("current_level_A")),
            (_I_LEVEL, True, lambda p: self._qn(p, self.smu.current_level_A)),
            (_V_LEVEL, False, self._set_number("voltage_level_V")),
            (_V_LEVEL, True, lambda p: self._qn(p, self.smu.voltage_level_V)),
            (":SOURce#:CURRent:VLIMit[:LEVel]", False, self._set_number("vlim_V")),
            (":SOURce#:CURRent:VLIMit[:LEVel]", True, lambda p: self._qn(p, self.smu.vlim_V)),
            (":SOURce#:CURRent:VLIMit:TRIPped", True, self._q_trip),
            (":SOURce#:VOLTage:ILIMit[:LEVel]", False, self._set_number("ilim_A")),
            (":SOURce#:VOLTage:ILIMit[:LEVel]", True, lambda p: self._qn(p, self.smu.ilim_A)),
            (":SOURce#:VOLTage:ILIMit:TRIPped", True, self._q_trip),
            (":SOURce#:CURRent:RANGe:AUTO", False, self._set_flag(None)),
            (":SOURce#:VOLTage:RANGe:AUTO", False, self._set_flag(None)),
            (":SOURce#:CURRent:RANGe", False, self._set_range(MAX_CURRENT_A)),
            (":SOURce#:VOLTage:RANGe", False, self._set_range(MAX_VOLTAGE_V)),
            (":SOURce#:CURRent:READ:BACK", False, self._set_flag("readback")),
            (":SOURce#:VOLTage:READ:BACK", False, self._set_flag("readback")),
            (":SOURce#:CURRent:READ:BACK", True, lambda p: self._qb(p, self.smu.readback)),
            (":SENSe#:FUNCtion[:ON]", False, self._set_sense_function),
            (":SENSe#:FUNCtion[:ON]", True, self._q_sense_function),
            (":SENSe#:VOLTage[:DC]:RANGe:AUTO", False, self._set_flag(None)),
            (":SENSe#:CURRent[:DC]:RANGe:AUTO", False, self._set_flag(None)),
            (":SENSe#:VOLTage[:DC]:RANGe[:UPPer]", False, self._set_range(MAX_VOLTAGE_V)),
            (":SENSe#:CURRent[:DC]:RANGe[:UPPer]", False, self._set_range(MAX_CURRENT_A)),
            (":SENSe#:VOLTage[:DC]:NPLCycles", False, self._set_nplc),
            (":SENSe#:CURRent[:DC]:NPLCycles", False, self._set_nplc),
            (":SENSe#:VOLTage[:DC]:NPLCycles", True, lambda p: self._qn(p, self.smu.nplc)),
            (":SENSe#:VOLTage[:DC]:RSENse", False, self._set_flag("remote_sense")),
            (":SENSe#:CURRent[:DC]:RSENse", False, self._set_flag("remote_sense")),
            (":SENSe#:VOLTage[:DC]:RSENse", True, lambda p: self._qb(p, self.smu.remote_sense)),
            (":OUTPut#[:STATe]", False, self._set_output),
            (":OUTPut#[:STATe]", True, lambda p: self._qb(p, self.smu.output)),
            (":OUTPut#:CURRent:SMODe", False, self._set_off_mode),
            (":OUTPut#:VOLTage:SMODe", False, self._set_off_mode),
            (":OUTPut#:CURRent:SMODe", True, lambda p: self._q(p, self.smu.off_mode)),
            (":READ", True, self._read),
            (":FETCh", True, self._fetch),
            (":TRACe:CLEar", False, self._trace_clear),
            (":TRACe:ACTual", True, self._trace_actual),
            (":TRACe:POINts", False, self._trace_points),
            (":TRACe:POINts", True, self._trace_points_q),
            (":TRACe:MAKE", False, self._trace_make),
            (":TRACe:DELete", False, self._trace_delete),
            (":TRACe:DATA", True, self._trace_data),
        ]
        return [(Pattern.parse(text), query, handler) for text, query, handler in table]

    # --- common commands ---------------------------------------------------------------------
    async def _idn(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        return f"KEITHLEY INSTRUMENTS,MODEL 2450,{self.serial},{self.firmware}"

    async def _lang_q(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        return self.language

    async def _lang(self, params: tuple[Param, ...]) -> None:
        word = _one_word(params, ("SCPI", "SCPI2400", "TSP"))
        self.language = word  # a real 2450 needs a reboot; the simulator switches at once

    async def _rst(self, params: tuple[Param, ...]) -> None:
        _no_params(params)
        self.smu.reset()
        self._reset_buffers()

    async def _cls(self, params: tuple[Param, ...]) -> None:
        _no_params(params)
        self.errors.clear()

    async def _stb(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        return str(4 if self.errors else 0)  # bit 2: error/event queue not empty

    async def _err_next(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        if not self.errors:
            return '0,"No error"'
        code, text = self.errors.popleft()
        return f'{code},"{text}"'

    async def _err_count(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        return str(len(self.errors))

    # --- source and sense --------------------------------------------------------------------
    async def _set_source_function(self, params: tuple[Param, ...]) -> None:
        word = _one_word(params, ("CURR", "CURRENT", "VOLT", "VOLTAGE"))
        self.smu.source_function = word[:4]
        self.smu.settle()

    def _set_number(self, attribute: str) -> Handler:
        """A setter of one SMU number within its range (`_SMU_NUMBERS`)."""
        low, high, default = _SMU_NUMBERS[attribute]

        async def handler(params: tuple[Param, ...]) -> None:
            setattr(self.smu, attribute, _number(params, low=low, high=high, default=default))
            self.smu.settle()

        return handler

    async def _q_trip(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        return "1" if self.smu.tripped else "0"

    def _set_range(self, high: float) -> Handler:
        async def handler(params: tuple[Param, ...]) -> None:
            _number(params, low=-high, high=high, default=high)

        return handler

    def _set_flag(self, attribute: str | None) -> Handler:
        async def handler(params: tuple[Param, ...]) -> None:
            value = _bool(params)
            if attribute is not None:
                setattr(self.smu, attribute, value)
                self.smu.settle()

        return handler

    async def _set_nplc(self, params: tuple[Param, ...]) -> None:
        self.smu.nplc = _number(params, low=0.01, high=10.0, default=1.0)

    async def _set_sense_function(self, params: tuple[Param, ...]) -> None:
        if len(params) != 1:
            raise ScpiError(scpi.MISSING_PARAMETER if not params else scpi.PARAMETER_NOT_ALLOWED)
        if params[0].kind != "string":
            raise ScpiError(scpi.DATA_TYPE_ERROR, "the function must be a quoted string")
        name = params[0].text.upper().split(":")[0]
        aliases = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR"}
        if name not in aliases:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, params[0].text)
        self.smu.sense_function = aliases[name]

    async def _q_sense_function(self, params: tuple[Param, ...]) -> str:
        _no_params(params)
        return f'"{self.smu.sense_function}:DC"'

    async def _set_output(self, params: tuple[Param, ...]) -> None:
        self.smu.output = _bool(params)
        self.smu.settle()

    async def _set_off_mode(self, params: tuple[Param, ...]) -> None:
        word = _one_word(params, ("HIMP", "HIMPEDANCE", "NORM", "NORMAL", "ZERO", "GUAR", "GUARD"))
        self.smu.off_mode = word[:4]

    # --- readings and buffers ----------------------------------------------------------------
    def _reset_buffers(self) -> None:
        self.buffers = {name: Buffer(self.buffer_capacity) for name in DEFAULT_BUFFERS}

    def _buffer(self, param: Param | None) -> tuple[str, Buffer]:
        if param is None:
            return "DEFBUFFER1", self.buffers["DEFBUFFER1"]
        if param.kind != "string":
            raise ScpiError(scpi.DATA_TYPE_ERROR, "buffer names are quoted strings")
        key = param.text.upper()
        if key not in self.buffers:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, f"buffer {param.text} not found")
        return key, self.buffers[key]

    @staticmethod
    def _elements(params: tuple[Param, ...]) -> list[str]:
        if len(params) > MAX_ELEMENTS:
            raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, "at most 14 buffer elements")
        names: list[str] = []
        for param in params:
            if param.kind != "word":
                raise ScpiError(scpi.DATA_TYPE_ERROR, f"{param.text} is not a buffer element")
            word = param.text
            match = next((short for long, short in ELEMENTS.items() if word in (long, short)), None)
            if match is None:
                raise ScpiError(scpi.ILLEGAL_PARAMETER, f"unknown buffer element {word}")
            names.append(match)
        return names or ["READ"]

    async def _read(self, params: tuple[Param, ...]) -> str:
        _, buffer = self._buffer(params[0] if params else None)
        elements = self._elements(params[1:])
        if self.before_read is not None and not await self.before_read():
            raise _HostCut
        if math.isinf(self.clock.time_scale) and self.read_interval_s:
            await self.clock.sleep(self.read_interval_s)
        self.sync()
        self.reads += 1
        source, value, limited = self.smu.measure()
        t = self._t_state
        if buffer.first_t is None:
            buffer.first_t = t
        reading = Reading(
            t_s=t,
            rel_s=t - buffer.first_t,
            source=source,
            reading=value,
            limited=limited,
            sense=self.smu.sense_function,
            source_function=self.smu.source_function,
        )
        buffer.add(reading)
        return _format(reading, elements)

    async def _fetch(self, params: tuple[Param, ...]) -> str:
        _, buffer = self._buffer(params[0] if params else None)
        elements = self._elements(params[1:])
        if not buffer.readings:
            raise ScpiError(scpi.SETTINGS_CONFLICT, "the buffer is empty")
        return _format(buffer.readings[-1], elements)

    async def _trace_clear(self, params: tuple[Param, ...]) -> None:
        if len(params) > 1:
            raise ScpiError(scpi.PARAMETER_NOT_ALLOWED)
        self._buffer(params[0] if params else None)[1].clear()

    async def _trace_actual(self, params: tuple[Param, ...]) -> str:
        if len(params) > 1:
            raise ScpiError(scpi.PARAMETER_NOT_ALLOWED)
        return str(len(self._buffer(params[0] if params else None)[1].readings))

    async def _trace_points(self, params: tuple[Param, ...]) -> None:
        if not params:
            raise ScpiError(scpi.MISSING_PARAMETER)
        size = int(_number(params[:1], low=10, high=11_000_000, default=100_000))
        self._buffer(params[1] if len(params) > 1 else None)[1].capacity = size

    async def _trace_points_q(self, params: tuple[Param, ...]) -> str:
        return str(self._buffer(params[0] if params else None)[1].capacity)

    async def _trace_make(self, params: tuple[Param, ...]) -> None:
        if len(params) < 2:
            raise ScpiError(scpi.MISSING_PARAMETER)
        if params[0].kind != "string" or not params[0].text:
            raise ScpiError(scpi.DATA_TYPE_ERROR, "buffer names are quoted strings")
        size = int(_number(params[1:2], low=10, high=11_000_000, default=100_000))
        key = params[0].text.upper()
        if key in self.buffers:
            raise ScpiError(scpi.SETTINGS_CONFLICT, f"buffer {params[0].text} exists")
        self.buffers[key] = Buffer(size)

    async def _trace_delete(self, params: tuple[Param, ...]) -> None:
        key, _ = self._buffer(params[0] if params else None)
        if key in DEFAULT_BUFFERS:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, "default buffers cannot be deleted")
        del self.buffers[key]

    async def _trace_data(self, params: tuple[Param, ...]) -> str:
        if len(params) < 2:
            raise ScpiError(scpi.MISSING_PARAMETER)
        start = int(_number(params[:1], low=1, high=11_000_000, default=1))
        end = int(_number(params[1:2], low=1, high=11_000_000, default=1))
        _, buffer = self._buffer(params[2] if len(params) > 2 else None)
        elements = self._elements(params[3:])
        readings = list(buffer.readings)
        if end < start or end > len(readings):
            raise ScpiError(scpi.DATA_OUT_OF_RANGE, f"the buffer holds {len(readings)} readings")
        return ",".join(_format(r, elements) for r in readings[start - 1 : end])

    # --- query helpers -----------------------------------------------------------------------
    @staticmethod
    def _q(params: tuple[Param, ...], value: str) -> Awaitable[str]:
        _no_params(params)
        return _done(value)

    @staticmethod
    def _qn(params: tuple[Param, ...], value: float) -> Awaitable[str]:
        _no_params(params)
        return _done(_num(value))

    @staticmethod
    def _qb(params: tuple[Param, ...], value: bool) -> Awaitable[str]:
        _no_params(params)
        return _done("1" if value else "0")


class _HostCut(Exception):
    """A fault hook cut the connection before the reply."""


async def _done(value: str) -> str:
    return value


def _const(value: str) -> Handler:
    async def handler(params: tuple[Param, ...]) -> str:
        _no_params(params)
        return value

    return handler


async def _none(params: tuple[Param, ...]) -> None:
    _no_params(params)


def _no_params(params: tuple[Param, ...]) -> None:
    if params:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[0].text)


def _one_word(params: tuple[Param, ...], allowed: tuple[str, ...]) -> str:
    if not params:
        raise ScpiError(scpi.MISSING_PARAMETER)
    if len(params) > 1:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[1].text)
    if params[0].kind != "word":
        raise ScpiError(scpi.DATA_TYPE_ERROR, params[0].text)
    if params[0].text not in allowed:
        raise ScpiError(scpi.ILLEGAL_PARAMETER, params[0].text)
    return params[0].text


def _bool(params: tuple[Param, ...]) -> bool:
    if not params:
        raise ScpiError(scpi.MISSING_PARAMETER)
    if len(params) > 1:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[1].text)
    p = params[0]
    if p.kind == "word" and p.text in ("ON", "OFF"):
        return p.text == "ON"
    if p.kind == "number" and p.number in (0.0, 1.0):
        return p.number == 1.0
    raise ScpiError(scpi.ILLEGAL_PARAMETER if p.kind == "number" else scpi.DATA_TYPE_ERROR, p.text)


def _number(params: tuple[Param, ...], *, low: float, high: float, default: float) -> float:
    if not params:
        raise ScpiError(scpi.MISSING_PARAMETER)
    if len(params) > 1:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[1].text)
    p = params[0]
    if p.kind == "word":
        keywords = {"MIN": low, "MINIMUM": low, "MAX": high, "MAXIMUM": high}
        keywords |= {"DEF": default, "DEFAULT": default}
        if p.text in keywords:
            return keywords[p.text]
        raise ScpiError(scpi.DATA_TYPE_ERROR, p.text)
    if p.kind != "number" or p.number is None:
        raise ScpiError(scpi.DATA_TYPE_ERROR, p.text)
    if not low <= p.number <= high:
        raise ScpiError(scpi.DATA_OUT_OF_RANGE, p.text)
    return p.number


def _num(value: float) -> str:
    return f"{value:.9E}"


def _format(reading: Reading, elements: list[str]) -> str:
    stamp = EPOCH + dt.timedelta(seconds=reading.t_s)
    whole = math.floor(reading.t_s)
    out: list[str] = []
    for name in elements:
        if name == "READ":
            out.append(_num(reading.reading))
        elif name == "SOUR":
            out.append(_num(reading.source))
        elif name == "REL":
            out.append(_num(reading.rel_s))
        elif name == "SEC":
            out.append(str(int(EPOCH.timestamp()) + whole))
        elif name == "FRAC":
            out.append(_num(reading.t_s - whole))
        elif name == "TST":
            out.append(stamp.strftime("%m/%d/%Y %H:%M:%S.%f"))
        elif name == "DATE":
            out.append(stamp.strftime("%m/%d/%Y"))
        elif name == "TIME":
            out.append(stamp.strftime("%H:%M:%S.%f"))
        elif name == "STAT":
            out.append("0")
        elif name == "SOURSTAT":
            out.append("1" if reading.limited else "0")  # bit 0: the source was in its limit
        elif name == "UNIT":
            out.append(UNITS[reading.sense])
        elif name == "SOURUNIT":
            out.append(UNITS[reading.source_function])
    return ",".join(out)
