"""Where a value sits in a protocol file, and the problems found there.

Every problem is collected with its file, path and line and raised together at the end, so
a technician fixes a file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from protocols import schema as S
from protocols.errors import Problem
from protocols.source import Document


@dataclass(frozen=True)
class Included:
    """Steps brought in by `include:`, with the document they came from."""

    doc: Document
    steps: list[Any]
    path: str = "steps"


@dataclass(frozen=True)
class Where:
    """A place in one document: `steps[2].cc.until[0]`."""

    doc: Document
    path: str

    def at(self, part: str | int) -> Where:
        if isinstance(part, int):
            return Where(self.doc, f"{self.path}[{part}]")
        return Where(self.doc, f"{self.path}.{part}" if self.path else part)


class Report:
    """The problems found so far (each once, in order) and what only a cell can resolve."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.needs: list[tuple[Where, str]] = []

    def fail(self, where: Where, message: str) -> None:
        problem = Problem(where.doc.file, where.path, message, where.doc.line_of(where.path))
        if problem not in self.problems:
            self.problems.append(problem)

    def need(self, where: Where, what: str) -> None:
        """`what` can only be resolved with a capacity basis (an error only when binding)."""
        self.needs.append((where, what))

    def validate(self, model: type[BaseModel], body: Any, where: Where) -> Any:
        """`body` checked against `model`; None (with the problems noted) when it does not fit."""
        if not isinstance(body, dict):
            fields = ", ".join(model.model_fields)
            self.fail(where, f"must be a mapping of fields ({fields}), not {S._type_word(body)}")
            return None
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            for p in S.validation_problems(
                exc, model, where.doc.file, where.path, where.doc.line_of
            ):
                if p not in self.problems:
                    self.problems.append(p)
            return None
