"""What a paper reproduction is made of: reported numbers, procedures, and how to read a
measured number out of an analysis report.

The reported numbers are data beside the paper's protocols, in
`protocols/library/<paper>/reported.toml`: per procedure, each number with its unit, tolerance
and the measure that reads its counterpart from the report (`MEASURES`), and the numbers no
preset or procedure produces yet, with the reason.

A paper is a list of procedures. Each runs a library protocol (or a short derivative of one,
built from the library file's own parameters) on a preset cell: the real EmStat4 driver talks
MethodSCRIPT over TCP to the simulator, a chamber and press join over their own wire
protocols when the procedure sets temperature or pressure, every sample goes to the store,
and the analysis reads the run back from there. Each `Expectation` takes one number out of
the analysis report and compares it with the paper's.

Run lengths are chosen for a demo: one cycle per rate in a rate ladder, a GITT train of a
dozen pulses at mid SOC, but 100-cycle retention over 100 cycles (with a coarser logging
interval instead).
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import protocols
from protocols.analysis.dispatch import Report
from scheduler.analyze import Analysed
from scheduler.errors import SchedulerError

Measure = Callable[[Report], float | None]


@dataclass(frozen=True)
class Expectation:
    """One reported number and how to read its measured counterpart from a report."""

    quantity: str
    reported: float
    unit: str
    tolerance: float  # relative (fraction) when kind == "rel", else in `unit`
    kind: Literal["rel", "abs", "max"]  # "max": the paper gives a bound ("below 100 mAh/g")
    measure: Measure
    note: str = ""

    def tolerance_text(self) -> str:
        if self.kind == "max":
            return "upper bound" + (f" +{self.tolerance:g} {self.unit}" if self.tolerance else "")
        if self.kind == "rel":
            return f"±{100 * self.tolerance:g} %"
        return f"±{self.tolerance:g} {self.unit}".replace(" %", " points")

    def within(self, measured: float | None) -> bool:
        if measured is None or not math.isfinite(measured):
            return False
        if self.kind == "max":
            return measured <= self.reported + self.tolerance
        allowed = self.tolerance * abs(self.reported) if self.kind == "rel" else self.tolerance
        return abs(measured - self.reported) <= allowed


@dataclass(frozen=True)
class Procedure:
    """One run: a library protocol (or a derivative) on a preset, and what it must give."""

    key: str
    title: str
    library: str  # path under protocols/library
    preset: str
    expectations: tuple[Expectation, ...]
    overrides: dict[str, Any] = field(default_factory=dict)  # protocol parameters
    cell_overrides: dict[str, Any] = field(default_factory=dict)  # simulator parameters
    cell_extra: dict[str, Any] = field(default_factory=dict)  # recorded with the cell
    slot: bool = False  # needs a chamber (and maybe a press) on one simulated clock
    press: bool = False
    start_degC: float = 25.0
    derive: Callable[[Path], str] | None = None  # builds the protocol text from the library file


@dataclass
class ProcedureRun:
    procedure: Procedure
    run_id: int
    status: str
    message: str
    analysed: Analysed
    rows: list[dict[str, Any]]


@dataclass
class PaperResult:
    paper: str
    runs: list[ProcedureRun]
    not_reproduced: list[dict[str, str]]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [row for run in self.runs for row in run.rows]

    @property
    def plots(self) -> list[Path]:
        return [p for run in self.runs for p in run.analysed.plots.values()]


# --- reading numbers out of a report -------------------------------------------------------------
def _summary(report: Report, kind: str, key: str) -> Any:
    outcome = report.get(kind)
    return None if outcome is None else outcome.summary.get(key)


def rate_at(c_rate: str) -> Measure:
    def measure(report: Report) -> float | None:
        rates = _summary(report, "rate_capability", "rates") or {}
        return rates.get(c_rate)

    return measure


def percent(kind: str, key: str) -> Measure:
    def measure(report: Report) -> float | None:
        value = _summary(report, kind, key)
        return None if value is None else 100.0 * value

    return measure


def summary_value(kind: str, key: str, scale: float = 1.0) -> Measure:
    def measure(report: Report) -> float | None:
        value = _summary(report, kind, key)
        return None if value is None else scale * value

    return measure


def conductivity_at(temperature_degC: float) -> Measure:
    def measure(report: Report) -> float | None:
        rows = _summary(report, "conductivity", "spectra") or []
        for row in rows:
            t = row.get("temperature_degC")
            if t is not None and abs(t - temperature_degC) <= 1.0:
                return row["sigma_mS_cm"]
        return None

    return measure


def reference_areal_discharge() -> Measure:
    """Discharge mAh/cm² of the cycle retention is referenced to, from the cycle table (the
    analysis divides by the stored cell's area)."""

    def measure(report: Report) -> float | None:
        outcome = report.get("cycle_summary")
        if outcome is None:
            return None
        reference = outcome.summary.get("reference_cycle")
        row = next((r for r in outcome.result or [] if r.cycle == reference), None)
        return None if row is None else row.discharge_mAh_cm2

    return measure


def _dotted(make: Callable[[str, str], Measure]) -> Callable[[str], Measure]:
    """A measure named `analysis.key` in the data file."""

    def build(path: str) -> Measure:
        kind, _, key = path.partition(".")
        return make(kind, key)

    return build


# What reported.toml's `measure` may name: `{ name = argument }`, or a name alone.
MEASURES: dict[str, Callable[..., Measure]] = {
    "rate_at": rate_at,
    "percent": _dotted(percent),
    "summary": _dotted(summary_value),
    "conductivity_at": conductivity_at,
    "reference_areal_discharge": reference_areal_discharge,
}


# --- the reported numbers, from protocols/library/<paper>/reported.toml -------------------------
@functools.cache
def reported(paper: str) -> dict[str, Any]:
    """A paper's reported.toml, parsed."""
    path = protocols.LIBRARY / paper / "reported.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SchedulerError(
            f"cannot read the numbers {paper} reports from {path}: {exc}"
        ) from None


def _measure(spec: Any, where: str) -> Measure:
    name: Any = spec
    args: tuple[Any, ...] = ()
    if isinstance(spec, dict) and len(spec) == 1:
        name, arg = next(iter(spec.items()))
        args = (arg,)
    if not isinstance(name, str) or name not in MEASURES:
        raise SchedulerError(f"{where}: measure {spec!r} is not one of {', '.join(MEASURES)}")
    return MEASURES[name](*args)


def expectations(paper: str, key: str) -> tuple[Expectation, ...]:
    """The numbers a paper reports for one procedure, each with how to measure it."""
    table = reported(paper).get("expectations", {})
    if key not in table:
        raise SchedulerError(f"{paper}'s reported.toml has no [[expectations.{key}]]")
    return tuple(
        Expectation(
            row["quantity"],
            float(row["reported"]),
            row["unit"],
            float(row["tolerance"]),
            row["kind"],
            _measure(row["measure"], f"{paper} {key}"),
            row.get("note", ""),
        )
        for row in table[key]
    )


def not_reproduced(paper: str) -> list[dict[str, str]]:
    """Reported numbers no preset or procedure produces yet, each with the reason."""
    return [dict(item) for item in reported(paper).get("not_reproduced", [])]
