"""A small SCPI message parser: program message units, header paths and parameters.

It follows IEEE 488.2 / SCPI 1999 as the Keithley 2450 reference manual describes it:
mnemonics are case-insensitive and match either their short form (the upper-case part of
the long form, `SOUR`) or the long form (`SOURce`); `[...]` nodes are optional; a
numeric suffix (`SOUR1`) is allowed where the tree says so; `;` separates message units,
and a unit that does not start with `:` continues from the previous unit's branch;
common commands start with `*`; strings are quoted with `"` or `'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# SCPI error numbers and texts (SCPI 1999 volume 2, chapter 21), as the 2450 reports them.
SYNTAX_ERROR = (-102, "Syntax error")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
SUFFIX_OUT_OF_RANGE = (-114, "Header suffix out of range")
SUFFIX_NOT_ALLOWED = (-138, "Suffix not allowed")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER = (-224, "Illegal parameter value")
QUEUE_OVERFLOW = (-350, "Queue overflow")
QUERY_INTERRUPTED = (-410, "Query INTERRUPTED")


class ScpiError(Exception):
    """A SCPI error to put on the instrument's error queue."""

    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        super().__init__(error[1] + (f"; {detail}" if detail else ""))
        self.code = error[0]
        self.text = error[1] + (f"; {detail}" if detail else "")


@dataclass(frozen=True)
class Node:
    short: str
    long: str
    optional: bool
    suffix: bool  # accepts a numeric suffix (only 1 on a single-channel instrument)
    fixed: int = 0  # a node written with its suffix (`USER3`): only that one (1 may be left out)


@dataclass(frozen=True)
class Pattern:
    """One command's header, e.g. `:SOURce#:CURRent[:LEVel][:IMMediate][:AMPLitude]`."""

    text: str
    nodes: tuple[Node, ...]

    @classmethod
    def parse(cls, text: str) -> Pattern:
        nodes: list[Node] = []
        for raw in re.findall(r"\[:?[A-Za-z]+\d*#?\]|:?[A-Za-z]+\d*#?", text):
            optional = raw.startswith("[")
            word = raw.strip("[]").lstrip(":")
            suffix = word.endswith("#")
            word = word.rstrip("#")
            digits = word[len(word.rstrip("0123456789")) :]
            word = word.rstrip("0123456789")
            short = "".join(ch for ch in word if ch.isupper())
            nodes.append(Node(short, word.upper(), optional, suffix, int(digits or 0)))
        return cls(text, tuple(nodes))

    def match(self, tokens: list[str]) -> bool:
        """True if the typed mnemonics (upper-case) name this header."""
        return _match(self.nodes, 0, tokens, 0)


_SUFFIX = re.compile(r"^([A-Z]+)(\d*)$")


def _token_matches(node: Node, token: str) -> bool:
    m = _SUFFIX.match(token)
    if not m:
        return False
    word, digits = m.groups()
    if word not in (node.short, node.long):
        return False
    if node.fixed:
        return int(digits or 1) == node.fixed
    if digits:
        if not node.suffix:
            return False
        if int(digits) != 1:
            raise ScpiError(SUFFIX_OUT_OF_RANGE, token)
    return True


def _match(nodes: tuple[Node, ...], i: int, tokens: list[str], j: int) -> bool:
    if i == len(nodes):
        return j == len(tokens)
    node = nodes[i]
    if j < len(tokens) and _token_matches(node, tokens[j]) and _match(nodes, i + 1, tokens, j + 1):
        return True
    return node.optional and _match(nodes, i + 1, tokens, j)


@dataclass(frozen=True)
class Unit:
    """One program message unit: header mnemonics, query flag and raw parameters."""

    common: str  # "*IDN" etc., or "" for a tree command
    tokens: tuple[str, ...]
    query: bool
    params: tuple[Param, ...]
    text: str


@dataclass(frozen=True)
class Param:
    kind: str  # "number", "string" or "word"
    text: str  # as typed (strings without quotes)
    number: float | None = None


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _split_outside_quotes(text: str, separator: str) -> tuple[list[str], bool]:
    """Split at `separator` where it stands outside quotes; also say if a quote is left open."""
    parts, current, quote = [], [], ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts, bool(quote)


def split_units(message: str) -> list[str]:
    """Split a program message at `;` outside quotes; raise -102 on an open quote."""
    units, open_quote = _split_outside_quotes(message, ";")
    if open_quote:
        raise ScpiError(SYNTAX_ERROR, "unterminated string")
    return [u.strip() for u in units]


def split_params(text: str) -> tuple[Param, ...]:
    """Parse a comma-separated parameter list into numbers, strings and words."""
    text = text.strip()
    if not text:
        return ()
    raw_params = [raw.strip() for raw in _split_outside_quotes(text, ",")[0]]
    params: list[Param] = []
    for raw in raw_params:
        if not raw:
            raise ScpiError(SYNTAX_ERROR, "empty parameter")
        if raw[0] in "\"'":
            if len(raw) < 2 or raw[-1] != raw[0]:
                raise ScpiError(SYNTAX_ERROR, f"bad string {raw}")
            params.append(Param("string", raw[1:-1]))
        elif _NUMBER.match(raw):
            params.append(Param("number", raw, float(raw)))
        elif _WORD.match(raw):
            params.append(Param("word", raw.upper()))
        elif re.match(r"^[+-]?[\d.]", raw):
            raise ScpiError(SUFFIX_NOT_ALLOWED, raw)
        else:
            raise ScpiError(SYNTAX_ERROR, raw)
    return tuple(params)


_HEADER = re.compile(r"^(:?\*[A-Za-z]+|:?[A-Za-z][A-Za-z0-9]*(?::[A-Za-z][A-Za-z0-9]*)*)(\?)?")


def parse_unit(text: str, path: tuple[str, ...]) -> tuple[Unit, tuple[str, ...]]:
    """Parse one unit; `path` is the branch the previous unit left; returns the new branch."""
    m = _HEADER.match(text)
    if not m or (len(text) > m.end() and not text[m.end()].isspace()):
        raise ScpiError(SYNTAX_ERROR, text)
    header, query = m.group(1), bool(m.group(2))
    params = split_params(text[m.end() :])
    if header.lstrip(":").startswith("*"):  # `:*CLS` is *CLS: common commands have no path
        return Unit(header.lstrip(":").upper(), (), query, params, text), path
    typed = tuple(part.upper() for part in header.lstrip(":").split(":"))
    tokens = typed if header.startswith(":") else path + typed
    return Unit("", tokens, query, params, text), tokens[:-1]


def parse_message(message: str) -> list[Unit | ScpiError]:
    """Parse a whole line; each unit becomes a Unit or the ScpiError it causes."""
    try:
        texts = split_units(message)
    except ScpiError as exc:
        return [exc]
    out: list[Unit | ScpiError] = []
    path: tuple[str, ...] = ()
    for text in texts:
        if not text:
            continue
        try:
            unit, path = parse_unit(text, path)
            out.append(unit)
        except ScpiError as exc:
            out.append(exc)
            break  # the rest of the message is not parsed after a syntax error
    return out
