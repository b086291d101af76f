"""A bound protocol: the flattened step program a sequencer walks.

The plan is data. Walking it (`protocols.sequencer.Sequencer(plan)`) and estimating its
length (`protocols.estimate.estimate(plan)`) live beside it and import it, never the reverse.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from protocols.basis import CapacityBasis
from protocols.steps import Record, Safety, Step


@dataclass(frozen=True)
class LoopSpan:
    """Steps `start`..`end` (inclusive) run `count` times in total; None = until a limit exits."""

    start: int
    end: int
    count: int | None
    label: str = ""

    def contains(self, index: int) -> bool:
        return self.start <= index <= self.end


@dataclass
class Plan:
    """What a protocol becomes once bound to a cell: SI steps, loops as spans, safety.

    `for_each` ladders are expanded (one copy of the body per value); `repeat` and
    `loop_to` loops stay as `loops` spans so a 1000-cycle test is not 1000 copies and a loop
    that ends on a limit can be walked. `needs_cell` lists what could not be resolved
    without a capacity basis (empty after a successful bind).
    """

    name: str
    source_text: str
    sha256: str
    steps: list[Step]
    safety: Safety
    loops: list[LoopSpan] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    record: Record = field(default_factory=Record)
    basis: CapacityBasis | None = None
    counter_electrode_V: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = "<string>"
    needs_cell: list[str] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)  # defaults the compiler chose, to show the user

    def loops_containing(self, index: int) -> list[LoopSpan]:
        """Spans around `index`, innermost first."""
        spans = [s for s in self.loops if s.contains(index)]
        return sorted(spans, key=lambda s: (s.end - s.start, -s.start))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description of the whole plan."""
        return {
            "name": self.name,
            "source": self.source,
            "sha256": self.sha256,
            "basis": self.basis.to_dict() if self.basis else None,
            "counter_electrode_V": self.counter_electrode_V,
            "parameters": self.parameters,
            "safety": dataclasses.asdict(self.safety),
            "record": dataclasses.asdict(self.record),
            "loops": [dataclasses.asdict(s) for s in self.loops],
            "tags": self.tags,
            "steps": [step_to_dict(s) for s in self.steps],
            "needs_cell": self.needs_cell,
            "notes": self.notes,
        }


def step_to_dict(step: Step) -> dict[str, Any]:
    out = {"kind": step.kind}
    for f in dataclasses.fields(step):
        value = getattr(step, f.name)
        if f.name == "limits":
            value = [dataclasses.asdict(lim) for lim in value]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[f.name] = value
    return out
