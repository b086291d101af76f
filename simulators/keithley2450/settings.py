"""The 2450's plain settings: stored by their setter, answered by their query, reset by *RST.

Most of the instrument's tree is settings of this kind (ranges, integration time, filters,
delays, autozero, terminals, status enables): the reference manual gives each a type, a
range and a default, and the measurement reads them where they matter (the averaging
filter, the range a reading must fit, four-wire sensing, offset-compensated ohms). One
`Setting` declares one such command; its setter and query come from the declaration.

Ranges: the 2450 has fixed ranges (10 nA ... 1 A, 20 mV ... 200 V, 20 ohm ... 200 Mohm); a
range setting picks the lowest range whose full scale (105 % of its name) holds the value
asked for, switches that function's autorange off, and its query answers the range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.keithley2450 import scpi
from simulators.keithley2450.params import Handler, boolean, done, no_params, num, number, one_word
from simulators.keithley2450.scpi import Param, ScpiError

OVER_RANGE = 1.05
CURRENT_RANGES_A = (10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0)
VOLTAGE_RANGES_V = (20e-3, 200e-3, 2.0, 20.0, 200.0)
RESISTANCE_RANGES_OHM = (20.0, 200.0, 2e3, 20e3, 200e3, 2e6, 20e6, 200e6)
RANGES = {"CURR": CURRENT_RANGES_A, "VOLT": VOLTAGE_RANGES_V, "RES": RESISTANCE_RANGES_OHM}


def range_for(ranges: tuple[float, ...], value: float) -> float:
    """The lowest range whose full scale holds |value| (the highest if none does)."""
    return next((r for r in ranges if abs(value) <= r * OVER_RANGE), ranges[-1])


@dataclass(frozen=True)
class Setting:
    """One stored setting. `kind` is "number", "count" (an integer), "bool", "choice"
    (`choices` maps each accepted word to the short form the query answers) or "range"
    (`ranges`; setting one turns `clears` off). `clears`: a bool setting the setter turns
    off (a manual delay turns the auto delay off)."""

    key: str
    pattern: str
    kind: str
    default: Any
    low: float = -math.inf
    high: float = math.inf
    choices: dict[str, str] = field(default_factory=dict)
    ranges: tuple[float, ...] = ()
    clears: str = ""
    query: bool = True
    command: bool = True


class Settings:
    """The values of every declared setting; `on_change(key)` runs after a setter."""

    def __init__(self, declared: list[Setting], on_change: Callable[[str], None]) -> None:
        self.declared = {s.key: s for s in declared}
        self.values: dict[str, Any] = {}
        self._on_change = on_change
        self.reset()

    def reset(self) -> None:
        self.values = {key: s.default for key, s in self.declared.items()}

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.values[key] = value

    def table(self) -> list[tuple[str, bool, Handler]]:
        """(header pattern, is query, handler) for every declared setting."""
        out: list[tuple[str, bool, Handler]] = []
        for s in self.declared.values():
            if s.command:
                out.append((s.pattern, False, self._setter(s)))
            if s.query:
                out.append((s.pattern, True, self._getter(s)))
        return out

    def _setter(self, s: Setting) -> Handler:
        async def handler(params: tuple[Param, ...]) -> None:
            self.values[s.key] = _parse(s, params)
            if s.clears:
                self.values[s.clears] = False
            self._on_change(s.key)

        return handler

    def _getter(self, s: Setting) -> Handler:
        def handler(params: tuple[Param, ...]) -> Any:
            no_params(params)
            return done(_format(s, self.values[s.key]))

        return handler


def _parse(s: Setting, params: tuple[Param, ...]) -> Any:
    if s.kind == "bool":
        return boolean(params)
    if s.kind == "choice":
        return one_word(params, s.choices)
    if s.kind == "range":
        value = number(params, low=-s.high, high=s.high, default=s.default)
        return range_for(s.ranges, value)
    value = number(params, low=s.low, high=s.high, default=s.default)
    if s.kind == "count":
        if value != int(value):
            raise ScpiError(scpi.DATA_TYPE_ERROR, f"{value:g} is not a whole number")
        return int(value)
    return value


def _format(s: Setting, value: Any) -> str:
    if s.kind == "bool":
        return "1" if value else "0"
    if s.kind == "choice":
        return str(value)
    if s.kind == "count":
        return str(int(value))
    return num(float(value))


SENSE = {"CURR": "CURRent[:DC]", "VOLT": "VOLTage[:DC]", "RES": "RESistance"}
SOURCE = {"CURR": "CURRent", "VOLT": "VOLTage"}
SENSE_DEFAULT_RANGE = {"CURR": 1e-4, "VOLT": 20.0, "RES": 2e5}
SOURCE_HIGH = {"CURR": 1.05, "VOLT": 210.0}
USER_DELAYS = range(1, 6)
OFF_STATES = {"HIMP": "HIMP", "HIMPEDANCE": "HIMP", "NORM": "NORM", "NORMAL": "NORM"}
OFF_STATES |= {"ZERO": "ZERO", "GUAR": "GUAR", "GUARD": "GUAR"}


def _ranged(
    key: str, path: str, head: str, ranges: tuple[float, ...], default: float, high: float
) -> list[Setting]:
    """A function's range (at `path`) and its autorange: setting a range turns autorange off."""
    return [
        Setting(
            f"{key}.range",
            path,
            "range",
            default,
            high=high,
            ranges=ranges,
            clears=f"{key}.auto",
        ),
        Setting(f"{key}.auto", f"{head}:RANGe:AUTO", "bool", True),
    ]


def _user_delays(key: str, head: str) -> list[Setting]:
    """The function's user delays (`:DELay:USER<n>`), in seconds."""
    return [
        Setting(f"{key}.user{n}", f"{head}:DELay:USER{n}", "number", 0.0, low=0.0, high=1e4)
        for n in USER_DELAYS
    ]


def _sense_settings(f: str, node: str) -> list[Setting]:
    head = f"[:SENSe#]:{node}"
    ranges = RANGES[f]
    high = ranges[-1] * OVER_RANGE
    out = _ranged(f"sense.{f}", f"{head}:RANGe[:UPPer]", head, ranges, SENSE_DEFAULT_RANGE[f], high)
    out += [
        Setting(f"sense.{f}.nplc", f"{head}:NPLCycles", "number", 1.0, low=0.01, high=10.0),
        Setting(f"sense.{f}.azero", f"{head}:AZERo[:STATe]", "bool", True),
        Setting(f"sense.{f}.aver", f"{head}:AVERage[:STATe]", "bool", False),
        Setting(f"sense.{f}.aver.count", f"{head}:AVERage:COUNt", "count", 10, low=1, high=100),
        Setting(
            f"sense.{f}.aver.tcon",
            f"{head}:AVERage:TCONtrol",
            "choice",
            "REP",
            choices={"REP": "REP", "REPEAT": "REP", "MOV": "MOV", "MOVING": "MOV"},
        ),
        Setting(f"sense.{f}.rsense", f"{head}:RSENse", "bool", False),
    ]
    return out + _user_delays(f"sense.{f}", head)


def _source_settings(f: str, node: str) -> list[Setting]:
    head = f":SOURce#:{node}"
    ranges = RANGES[f]
    out = _ranged(f"source.{f}", f"{head}:RANGe", head, ranges, ranges[0], SOURCE_HIGH[f])
    out += [
        Setting(
            f"source.{f}.delay",
            f"{head}:DELay",
            "number",
            0.0,
            low=0.0,
            high=1e4,
            clears=f"source.{f}.delay_auto",
        ),
        Setting(f"source.{f}.delay_auto", f"{head}:DELay:AUTO", "bool", True),
        Setting(f"source.{f}.high_c", f"{head}:HIGH:CAPacitance", "bool", False),
        Setting(
            f"output.{f}.smode", f":OUTPut#:{node}:SMODe", "choice", "NORM", choices=OFF_STATES
        ),
    ]
    return out + _user_delays(f"source.{f}", head)


def declared() -> list[Setting]:
    """Every plain setting of the native SCPI tree this simulator models, with its default."""
    out: list[Setting] = []
    for f, node in SENSE.items():
        out += _sense_settings(f, node)
    for f, node in SOURCE.items():
        out += _source_settings(f, node)
    out += [
        Setting("sense.RES.ocom", "[:SENSe#]:RESistance:OCOMpensated", "bool", False),
        Setting("sense.count", "[:SENSe#]:COUNt", "count", 1, low=1, high=300_000),
        Setting(
            "route.terminals",
            ":ROUTe:TERMinals",
            "choice",
            "FRON",
            choices={"FRON": "FRON", "FRONT": "FRON", "REAR": "REAR"},
        ),
        Setting(
            "format.data", ":FORMat[:DATA]", "choice", "ASC", choices={"ASC": "ASC", "ASCII": "ASC"}
        ),
        Setting("system.lfrequency", ":SYSTem:LFRequency", "number", 60.0, command=False),
        Setting(
            "status.operation.enable", ":STATus:OPERation:ENABle", "count", 0, low=0, high=65535
        ),
        Setting(
            "status.questionable.enable",
            ":STATus:QUEStionable:ENABle",
            "count",
            0,
            low=0,
            high=65535,
        ),
    ]
    return out
