"""Parse MethodSCRIPT data packages.

A package line is `P` followed by `;`-separated variables. Each variable is a 2-character
type id, then 8 characters: 7 hex digits holding the mantissa offset by 2**27 and one SI
prefix character (`i` for integers), or the literal `     nan`. Optional metadata follows
after commas: `1X` status bits, `2XX` range index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.errors import InstrumentReplyError

PREFIX_SCALE = {
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    " ": 1.0,
    "i": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
OFFSET = 1 << 27

STATUS_TIMING_ERROR = 0x1
STATUS_OVERLOAD = 0x2
STATUS_UNDERLOAD = 0x4
STATUS_OVERLOAD_WARNING = 0x8

TYPE_NAMES = {
    "ab": "potential",
    "ba": "current",
    "da": "applied potential",
    "db": "applied current",
    "dc": "frequency",
    "cc": "Z real",
    "cd": "Z imaginary",
    "ca": "phase",
    "cb": "|Z|",
    "eb": "time",
}


class PackageError(InstrumentReplyError):
    """A package line that does not decode; `reason` says what is wrong, `line` is the line."""

    def __init__(self, reason: str, line: str) -> None:
        super().__init__(f"EmStat4 sent {reason} in {line!r}")
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class PackageValue:
    type_id: str
    value: float
    status: int = 0
    range_index: int | None = None

    @property
    def is_integer(self) -> bool:
        return False


def _value(type_id: str, body: str, line: str) -> float:
    if body == "     nan":
        return math.nan
    if len(body) != 8:
        raise PackageError(f"a malformed package value {body!r}", line)
    digits, prefix = body[:7], body[7]
    if prefix not in PREFIX_SCALE:
        raise PackageError(f"an unknown SI prefix {prefix!r}", line)
    try:
        mantissa = int(digits, 16) - OFFSET
    except ValueError as exc:
        raise PackageError(f"non-hex digits {digits!r}", line) from exc
    return mantissa * PREFIX_SCALE[prefix]


def parse_package(line: str) -> list[PackageValue]:
    """Decode one `P…` line into its variables, in order."""
    if not line.startswith("P"):
        raise PackageError("a package that does not start with 'P'", line)
    values: list[PackageValue] = []
    for item in line[1:].split(";"):
        fields = item.split(",")
        head = fields[0]
        if len(head) < 3:
            raise PackageError("an empty package variable", line)
        type_id, body = head[:2], head[2:]
        status, range_index = 0, None
        for meta in fields[1:]:
            try:
                if meta.startswith("1"):
                    status = int(meta[1:], 16)
                elif meta.startswith("2"):
                    range_index = int(meta[1:], 16)
            except ValueError as exc:
                raise PackageError(f"malformed metadata {meta!r}", line) from exc
        values.append(PackageValue(type_id, _value(type_id, body, line), status, range_index))
    return values
