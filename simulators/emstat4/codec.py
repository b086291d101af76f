"""Number literals and data-package encoding as the MethodSCRIPT manual documents them.

A package value is a 2-character type id, 7 hex digits holding the mantissa offset by
2**27, and one SI-prefix character (`i` marks an integer).
"""

from __future__ import annotations

import math

SI_PREFIXES: dict[str, float] = {
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    " ": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
OFFSET = 2**27
# Prefixes tried for encoding, finest first, so that the mantissa keeps the most digits.
_ENCODE_ORDER = ["a", "f", "p", "n", "u", "m", " ", "k", "M", "G", "T", "P", "E"]
# Largest |value| each prefix holds with a rounded mantissa below 2**27.
_BOUNDS = [(prefix, (OFFSET - 0.5) * SI_PREFIXES[prefix]) for prefix in _ENCODE_ORDER]


class LiteralError(ValueError):
    """A script literal that is not a number with an optional SI prefix."""


def parse_literal(text: str) -> tuple[float, bool]:
    """Parse `100m`, `-1700u`, `5`, `0.5`, `3i` → (value, is_integer)."""
    if not text:
        raise LiteralError("empty literal")
    is_int = text.endswith("i")
    body = text[:-1] if is_int else text
    scale = 1.0
    if body and body[-1] in SI_PREFIXES and body[-1] != " " and not body[-1].isdigit():
        scale = SI_PREFIXES[body[-1]]
        body = body[:-1]
    try:
        value = float(body)
    except ValueError as exc:
        raise LiteralError(f"not a number: {text!r}") from exc
    if not math.isfinite(value):
        raise LiteralError(f"not a finite number: {text!r}")
    return value * scale, is_int


def encode_value(type_id: str, value: float, integer: bool = False) -> str:
    """Encode one package variable, e.g. ('ab', 3.7) -> 'ab8386... m'."""
    if integer:
        return f"{type_id}{round(value) + OFFSET:07X}i"
    if value is None or not math.isfinite(value):
        return f"{type_id}     nan"
    if value == 0.0:
        return f"{type_id}{OFFSET:07X} "
    size = abs(value)
    for prefix, bound in _BOUNDS:
        if size < bound:
            mantissa = round(value / SI_PREFIXES[prefix])
            return f"{type_id}{mantissa + OFFSET:07X}{prefix}"
    return f"{type_id}     nan"
