"""What one compile builds up: the steps so far (as protos), loops, tags, safety and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols.basis import CapacityBasis
from protocols.compile.quantities import Quantities
from protocols.compile.report import Report, Where
from protocols.plan import LoopSpan
from protocols.source import Document


@dataclass(frozen=True)
class Source:
    """A protocol file as loaded: its document, checked top level, step list and hash."""

    doc: Document
    body: S.FileBody
    steps: list[Any]
    text: str
    sha256: str


@dataclass
class Scope:
    """The tags of one block (name -> (step position, block number)), inside its parent's."""

    parent: Scope | None = None
    tags: dict[str, tuple[int, int]] = field(default_factory=dict)

    def find(self, name: str) -> int | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.tags:
                return scope.tags[name][0]
            scope = scope.parent
        return None

    def all_names(self) -> list[str]:
        names: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            names.extend(scope.tags)
            scope = scope.parent
        return sorted(set(names))


@dataclass
class Context:
    """What a block passes down: parameter values and inherited labels."""

    env: dict[str, Any]
    scope: Scope
    block: int
    cycle_type: str | None = None
    loop_note: str = ""


@dataclass
class LimitProto:
    """A limit as read, before `goto` targets are resolved to step positions."""

    limit: P.Limit
    where: Where
    scope: Scope | None = None


@dataclass
class Proto:
    """A step as read: its class and fields (`_`-prefixed ones only describe it), and limits."""

    cls: type[P.Step]
    fields: dict[str, Any]
    limits: list[LimitProto]
    where: Where
    kind: str
    direction: str | None = None
    tags: list[str] = field(default_factory=list)


class Compilation(Report):
    """One compile's state; every part of the compiler reads it and adds to it."""

    def __init__(
        self,
        source: Source,
        *,
        env: dict[str, Any],
        basis: CapacityBasis | None,
        counter_V: float,
    ) -> None:
        super().__init__()
        self.source = source
        self.doc = source.doc
        self.body = source.body
        self.env = env
        self.units = Quantities(self, basis, counter_V)
        self.protos: list[Proto] = []
        self.loops: list[LoopSpan] = []
        self.loop_wheres: list[Where] = []
        self.root = Scope()
        self.block_counter = 0
        self.safety = P.Safety()
        self.safety_current_c: float | None = None  # abs_current_max as a C-rate, 1C unknown
        self.record = P.Record()
        self.has_kinds: set[str] = set()
        self.notes: list[str] = []

    def new_block(self) -> int:
        self.block_counter += 1
        return self.block_counter
