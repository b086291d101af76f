"""MethodSCRIPT error codes (`!XXXX`) and what they mean to a lab user."""

from __future__ import annotations

import re

ERROR_LINE = re.compile(r".*!([0-9A-Fa-f]{4})(:.*)?$")

MESSAGES: dict[int, str] = {
    0x0001: "an unspecified error occurred",
    0x0004: "a script is already running",
    0x0006: "no script is running",
    0x4003: "the script contains a command the firmware does not know",
    0x4004: "a script command has the wrong arguments",
    0x4005: "a script block (loop/if) is not closed or not opened",
    0x4006: "the script uses an undeclared variable",
    0x4010: "the requested current is beyond the instrument's range",
    0x4011: "the technique needs another potentiostat mode",
}


def describe(code: int, detail: str = "") -> str:
    """One sentence for the user; unknown codes are reported with their number."""
    meaning = MESSAGES.get(code, "the instrument reported an error")
    text = f"EmStat4 error 0x{code:04X}: {meaning}"
    if detail:
        text += f" ({detail.strip(': ')})"
    return text


def match_error(line: str) -> tuple[int, str] | None:
    """Return (code, detail) when `line` is an error line."""
    found = ERROR_LINE.match(line)
    if not found:
        return None
    return int(found.group(1), 16), found.group(2) or ""
