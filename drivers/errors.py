"""Errors a driver raises. Each message is one sentence naming the instrument and what failed."""


class InstrumentError(Exception):
    """Base class: something went wrong talking to or inside an instrument."""


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer in time."""


class InstrumentConnectionError(InstrumentError):
    """The connection to the instrument could not be opened or was lost."""


class InstrumentReplyError(InstrumentError):
    """The instrument answered with something that does not follow its protocol."""


class InstrumentReportedError(InstrumentError):
    """The instrument itself reported an error (e.g. a MethodSCRIPT `!XXXX` code)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class CellFault(InstrumentError):
    """The cell stopped behaving like a cell during a step.

    `kind` is "open" (no current can flow), "short" (the voltage collapsed under current) or
    "compliance" (the source hit its voltage limit for another reason).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
