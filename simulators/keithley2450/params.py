"""Reading a command's parameters the way the 2450 does, and writing numbers in its format.

Each helper raises the SCPI error the reference manual gives for what is wrong: a missing
parameter -109, one too many -108, the wrong type -104, a value outside the command's range
-222, a word the command does not know -224. Numbers take the keywords MINimum, MAXimum and
DEFault where the command's range gives them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from simulators.keithley2450 import scpi
from simulators.keithley2450.scpi import Param, ScpiError

Handler = Callable[[tuple[Param, ...]], Awaitable[str | None]]
NAN = 9.91e37  # SCPI's "not a number" (SCPI 1999 vol. 1, 7.2.1.5)
OVERFLOW = 9.9e37  # what the 2450 returns for a reading beyond its fixed range


def no_params(params: tuple[Param, ...]) -> None:
    if params:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[0].text)


def one_word(params: tuple[Param, ...], allowed: dict[str, str]) -> str:
    """One word among `allowed` (short and long forms -> the short form it stands for)."""
    if not params:
        raise ScpiError(scpi.MISSING_PARAMETER)
    if len(params) > 1:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[1].text)
    if params[0].kind != "word":
        raise ScpiError(scpi.DATA_TYPE_ERROR, params[0].text)
    if params[0].text not in allowed:
        raise ScpiError(scpi.ILLEGAL_PARAMETER, params[0].text)
    return allowed[params[0].text]


def forms(*longs: str) -> dict[str, str]:
    """{"FRONT": "FRON", "FRON": "FRON", ...} from long forms written like `FRONt`."""
    out: dict[str, str] = {}
    for long in longs:
        short = "".join(ch for ch in long if ch.isupper())
        out[long.upper()] = out[short] = short
    return out


def boolean(params: tuple[Param, ...]) -> bool:
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


def number(params: tuple[Param, ...], *, low: float, high: float, default: float) -> float:
    """Exactly one number (or MIN/MAX/DEF) within low..high."""
    if not params:
        raise ScpiError(scpi.MISSING_PARAMETER)
    if len(params) > 1:
        raise ScpiError(scpi.PARAMETER_NOT_ALLOWED, params[1].text)
    return number_at(params[0], low=low, high=high, default=default)


def number_at(p: Param, *, low: float, high: float, default: float) -> float:
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


def string_at(p: Param, what: str) -> str:
    if p.kind != "string":
        raise ScpiError(scpi.DATA_TYPE_ERROR, f"{what} is a quoted string")
    return p.text


def num(value: float) -> str:
    """A number as the 2450 writes it in ASCII format."""
    return f"{value:.9E}"


def const(value: str) -> Handler:
    async def handler(params: tuple[Param, ...]) -> str:
        no_params(params)
        return value

    return handler


async def accept(params: tuple[Param, ...]) -> None:
    """A command without parameters and without an effect the simulator models."""
    no_params(params)


async def done(value: str) -> str:
    return value
