"""Source sweeps: `:SOURce:SWEep:<function>:LINear | :LINear:STEP | :LOG`, run by `:INITiate`.

The sweep command builds a source configuration list and the trigger model that walks it
(reference manual, "Sweep operation"): at each point the source goes to the level, the
sweep delay (plus any source delay) passes, and one measurement goes into the sweep's
buffer. `dual ON` walks back from stop to start; `count` repeats the whole sweep;
`failAbort ON` stops it at the first point where the source is in its limit. Parameters
after `points` are optional, in the manual's order and with its defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.keithley2450 import scpi
from simulators.keithley2450.params import forms, number_at, string_at
from simulators.keithley2450.scpi import Param, ScpiError

MAX_POINTS = 1_000_000
MAX_COUNT = 268_435_455
RANGE_TYPES = forms("AUTO", "BEST", "FIXed")
ON_OFF = {"ON": "ON", "OFF": "OFF", "1": "ON", "0": "OFF"}


@dataclass(frozen=True)
class Sweep:
    """A configured sweep: the source levels of one pass, and how to walk them."""

    function: str  # "CURR" or "VOLT"
    levels: tuple[float, ...]
    delay_s: float  # -1: auto delay (taken as none here)
    count: int
    range_type: str
    fail_abort: bool
    buffer: Param | None

    def passes(self) -> list[float]:
        """Every level in the order the trigger model sources them."""
        return list(self.levels) * self.count


def _flag(param: Param) -> bool:
    word = param.text if param.kind == "word" else param.text.strip()
    if word not in ON_OFF:
        raise ScpiError(scpi.ILLEGAL_PARAMETER, f"{param.text} is not ON or OFF")
    return ON_OFF[word] == "ON"


def parse_sweep(function: str, spacing: str, params: tuple[Param, ...], high: float) -> Sweep:
    """A sweep from its command's parameters; `high` is the source's largest |level|."""
    if len(params) < 3:
        raise ScpiError(scpi.MISSING_PARAMETER, "give start, stop and points")
    if len(params) > 9:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[9].text)
    start = number_at(params[0], low=-high, high=high, default=0.0)
    stop = number_at(params[1], low=-high, high=high, default=0.0)
    if spacing == "STEP":
        step = number_at(params[2], low=0.0, high=2 * high, default=0.0)
        if step <= 0:
            raise ScpiError(scpi.DATA_OUT_OF_RANGE, "the step must be greater than 0")
        points = math.floor(abs(stop - start) / step + 1e-9) + 1
        sign = 1.0 if stop >= start else -1.0
        levels = [start + sign * step * i for i in range(points)]
    else:
        points = int(number_at(params[2], low=2, high=MAX_POINTS, default=2))
        if spacing == "LOG":
            if start == 0 or stop == 0 or (start > 0) != (stop > 0):
                raise ScpiError(
                    scpi.SETTINGS_CONFLICT, "a log sweep needs start and stop of one sign"
                )
            levels = list(np.geomspace(start, stop, points))
        else:
            levels = list(np.linspace(start, stop, points))
    rest = list(params[3:])
    delay = number_at(rest[0], low=-1.0, high=10_000.0, default=-1.0) if rest else -1.0
    if delay not in (-1.0, 0.0) and delay < 50e-6:
        raise ScpiError(scpi.DATA_OUT_OF_RANGE, f"sweep delay {delay:g} s")
    count = int(number_at(rest[1], low=1, high=MAX_COUNT, default=1)) if len(rest) > 1 else 1
    range_type = "BEST"
    if len(rest) > 2:
        if rest[2].kind != "word" or rest[2].text not in RANGE_TYPES:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, f"range type {rest[2].text}")
        range_type = RANGE_TYPES[rest[2].text]
    fail_abort = _flag(rest[3]) if len(rest) > 3 else True
    dual = _flag(rest[4]) if len(rest) > 4 else False
    buffer = rest[5] if len(rest) > 5 else None
    if buffer is not None:
        string_at(buffer, "the sweep's buffer")
    if dual:
        levels = levels + levels[::-1]
    return Sweep(
        function, tuple(float(x) for x in levels), delay, count, range_type, fail_abort, buffer
    )
