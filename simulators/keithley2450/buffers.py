"""The 2450's reading buffers and its TRACe subsystem: make, size, clear, read back, statistics.

Every reading goes into a buffer (defbuffer1 unless the command names another); `:TRACe:DATA?`
returns a range of them with the elements asked for, up to 14 per request, and the
statistics queries summarise the readings of a buffer (its READing values).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from simulators.keithley2450 import scpi
from simulators.keithley2450.params import NAN, Handler, num, number_at, string_at
from simulators.keithley2450.scpi import Param, ScpiError

DEFAULT_BUFFERS = ("DEFBUFFER1", "DEFBUFFER2")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MAX_ELEMENTS = 14
MIN_SIZE, MAX_SIZE = 10, 11_000_000

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
    "FORMATTED": "FORM",
    "SOURFORMATTED": "SOURFORM",
}
UNITS = {"VOLT": "Volt DC", "CURR": "Amp DC", "RES": "Ohm"}
SYMBOLS = {"VOLT": "V", "CURR": "A", "RES": "Ohm"}


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

    def resize(self, capacity: int) -> None:
        """A new size clears the buffer, as on the instrument."""
        self.capacity = capacity
        self.clear()


def elements(params: tuple[Param, ...]) -> list[str]:
    """The buffer elements a query names (READing if it names none)."""
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


def format_reading(reading: Reading, names: list[str]) -> str:
    stamp = EPOCH + dt.timedelta(seconds=reading.t_s)
    whole = math.floor(reading.t_s)
    values = {
        "READ": lambda: num(reading.reading),
        "SOUR": lambda: num(reading.source),
        "REL": lambda: num(reading.rel_s),
        "SEC": lambda: str(int(EPOCH.timestamp()) + whole),
        "FRAC": lambda: num(reading.t_s - whole),
        "TST": lambda: stamp.strftime("%m/%d/%Y %H:%M:%S.%f"),
        "DATE": lambda: stamp.strftime("%m/%d/%Y"),
        "TIME": lambda: stamp.strftime("%H:%M:%S.%f"),
        "STAT": lambda: "0",
        "SOURSTAT": lambda: "1" if reading.limited else "0",  # bit 0: the source was limited
        "UNIT": lambda: UNITS[reading.sense],
        "SOURUNIT": lambda: UNITS[reading.source_function],
        "FORM": lambda: f"{reading.reading:+.6f} {SYMBOLS[reading.sense]}",
        "SOURFORM": lambda: f"{reading.source:+.6f} {SYMBOLS[reading.source_function]}",
    }
    return ",".join(values[name]() for name in names)


STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "AVERage": statistics.fmean,
    "MINimum": min,
    "MAXimum": max,
    "PK2Pk": lambda xs: max(xs) - min(xs),
    "SPAN": lambda xs: max(xs) - min(xs),
    "STDDev": lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0,
}


class Traces:
    """The buffers and the TRACe commands; `take(buffer)` makes the readings of one trigger."""

    def __init__(self, take: Callable[[str], Awaitable[None]]) -> None:
        self._take = take
        self.buffers: dict[str, Buffer] = {}
        self.reset()

    def reset(self) -> None:
        self.buffers = {name: Buffer(100_000) for name in DEFAULT_BUFFERS}

    def named(self, param: Param | None) -> tuple[str, Buffer]:
        """The buffer a parameter names (defbuffer1 when there is none)."""
        if param is None:
            return "DEFBUFFER1", self.buffers["DEFBUFFER1"]
        key = string_at(param, "a buffer name").upper()
        if key not in self.buffers:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, f"buffer {param.text} not found")
        return key, self.buffers[key]

    def table(self) -> list[tuple[str, bool, Handler]]:
        out: list[tuple[str, bool, Handler]] = [
            (":TRACe:CLEar", False, self._clear),
            (":TRACe:ACTual", True, self._actual),
            (":TRACe:POINts", False, self._points),
            (":TRACe:POINts", True, self._points_q),
            (":TRACe:MAKE", False, self._make),
            (":TRACe:DELete", False, self._delete),
            (":TRACe:DATA", True, self._data),
            (":TRACe:TRIGger", False, self._trigger),
            (":TRACe:STATistics:CLEar", False, self._clear),
        ]
        for name, fn in STATISTICS.items():
            out.append((f":TRACe:STATistics:{name}", True, self._statistic_of(fn)))
        return out

    def _optional_buffer(self, params: tuple[Param, ...]) -> tuple[str, Buffer]:
        if len(params) > 1:
            raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[1].text)
        return self.named(params[0] if params else None)

    async def _clear(self, params: tuple[Param, ...]) -> None:
        self._optional_buffer(params)[1].clear()

    async def _actual(self, params: tuple[Param, ...]) -> str:
        return str(len(self._optional_buffer(params)[1].readings))

    async def _points(self, params: tuple[Param, ...]) -> None:
        if not params:
            raise ScpiError(scpi.MISSING_PARAMETER)
        size = number_at(params[0], low=MIN_SIZE, high=MAX_SIZE, default=100_000)
        self._optional_buffer(params[1:])[1].resize(int(size))

    async def _points_q(self, params: tuple[Param, ...]) -> str:
        return str(self._optional_buffer(params)[1].capacity)

    async def _make(self, params: tuple[Param, ...]) -> None:
        if len(params) < 2:
            raise ScpiError(scpi.MISSING_PARAMETER)
        name = string_at(params[0], "a buffer name")
        if not name:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, "a buffer needs a name")
        size = int(number_at(params[1], low=MIN_SIZE, high=MAX_SIZE, default=100_000))
        if len(params) > 2 and params[2].text not in ("STANDARD", "COMPACT", "FULL", "WRITABLE"):
            raise ScpiError(scpi.ILLEGAL_PARAMETER, f"buffer style {params[2].text}")
        if name.upper() in self.buffers:
            raise ScpiError(scpi.SETTINGS_CONFLICT, f"buffer {name} exists")
        self.buffers[name.upper()] = Buffer(size)

    async def _delete(self, params: tuple[Param, ...]) -> None:
        if not params:
            raise ScpiError(scpi.MISSING_PARAMETER)
        key, _ = self._optional_buffer(params)
        if key in DEFAULT_BUFFERS:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, "default buffers cannot be deleted")
        del self.buffers[key]

    async def _data(self, params: tuple[Param, ...]) -> str:
        if len(params) < 2:
            raise ScpiError(scpi.MISSING_PARAMETER, "give the start and end index")
        start = int(number_at(params[0], low=1, high=MAX_SIZE, default=1))
        end = int(number_at(params[1], low=1, high=MAX_SIZE, default=1))
        _, buffer = self.named(params[2] if len(params) > 2 else None)
        names = elements(params[3:])
        readings = list(buffer.readings)
        if end < start or end > len(readings):
            raise ScpiError(scpi.DATA_OUT_OF_RANGE, f"the buffer holds {len(readings)} readings")
        return ",".join(format_reading(r, names) for r in readings[start - 1 : end])

    async def _trigger(self, params: tuple[Param, ...]) -> None:
        key, _ = self._optional_buffer(params)
        await self._take(key)

    def _statistic_of(self, fn: Callable[[list[float]], float]) -> Handler:
        async def handler(params: tuple[Param, ...]) -> str:
            values = [r.reading for r in self._optional_buffer(params)[1].readings]
            return num(fn(values)) if values else num(NAN)

        return handler
