"""Analysis input errors: one sentence naming what is wrong and where."""

from __future__ import annotations

from protocols.errors import Problem, ProtocolError


class AnalysisError(ProtocolError):
    """Data an analysis cannot use; `technique` and `where` say which input is at fault."""

    def __init__(self, technique: str, where: str, message: str) -> None:
        super().__init__([Problem(file=technique, path=where, message=message)])
        self.technique = technique
        self.where = where
        self.message = message
