"""Protocol validation errors. Every problem names the file, line, path and what would be valid."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a protocol file."""

    file: str
    path: str  # e.g. "steps[3].until[0]"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        inside = f" at {self.path}" if self.path else ""
        return f"{where}{inside}: {self.message}"


class ProtocolError(Exception):
    """A protocol could not be loaded; holds every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid protocol")
