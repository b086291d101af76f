"""What an analysis gives back: one Outcome per analysis, and the Report of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Names protocols use → the analysis that runs.
ALIASES = {
    "cycle_summary": "cycle_summary",
    "cycles": "cycle_summary",
    "rate_table": "rate_capability",
    "rate_capability": "rate_capability",
    "gitt": "gitt",
    "gitt_weppner_huggins": "gitt",
    "eis_fit": "eis_fit",
    "arrhenius_rct": "arrhenius_rct",
    "conductivity": "conductivity",
    "arrhenius_conductivity": "arrhenius_conductivity",
    "arrhenius_sigma": "arrhenius_conductivity",
    "dc_polarisation": "dc_polarisation",
    "dc_polarization": "dc_polarisation",
    "tortuosity": "dc_polarisation",
    "bruce_vincent": "bruce_vincent",
    "transference_number": "bruce_vincent",
    "li_li_overpotential": "li_li_overpotential",
    "symmetric_overpotential": "li_li_overpotential",
    "cv_peaks": "cv_peaks",
    "lsv_window": "lsv_window",
    "window_onset": "lsv_window",
    "lsv_onset": "lsv_window",
    "ir_drop": "ir_drop",
}
KNOWN = tuple(dict.fromkeys(ALIASES.values()))


@dataclass
class Outcome:
    """One analysis: its full result, its headline numbers, or why it was skipped."""

    kind: str
    result: Any = None  # the analysis's own result object(s)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "notes": list(self.notes),
            "skipped": self.skipped,
            "result": _as_data(self.result),
        }


@dataclass
class Report:
    """Every analysis run on one run's data, in the order asked (or inferred)."""

    outcomes: dict[str, Outcome]
    requested: tuple[str, ...]
    inferred: bool
    cell: str = ""
    protocol: str = ""

    def get(self, kind: str) -> Outcome | None:
        outcome = self.outcomes.get(ALIASES.get(kind, kind))
        return outcome if outcome and outcome.ok else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "protocol": self.protocol,
            "requested": list(self.requested),
            "inferred": self.inferred,
            "analyses": {k: o.as_dict() for k, o in self.outcomes.items()},
        }


def _as_data(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {str(k): _as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
