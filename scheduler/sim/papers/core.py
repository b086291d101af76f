"""What a paper reproduction is made of: reported numbers, procedures, and how to read a
measured number out of an analysis report.

A paper is a list of procedures. Each runs a library protocol (or a short derivative of one,
built from the library file's own parameters) on a preset cell: the real EmStat4 driver talks
MethodSCRIPT over TCP to the simulator, a chamber and press join over their own wire
protocols when the procedure sets temperature or pressure, every sample goes to the store,
and the analysis reads the run back from there. Each `Expectation` takes one number out of
the analysis report and compares it with the paper's.

Run lengths are chosen for a demo: one cycle per rate in a rate ladder, a GITT train of a
dozen pulses at mid SOC, but 100-cycle retention over 100 cycles (with a coarser logging
interval instead). Numbers the paper reports that no preset or procedure can produce yet are
listed in `NOT_REPRODUCED` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from protocols.analysis.dispatch import Report
from scheduler.analyze import Analysed

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


def capacity(quantity: str, reported: float, measure: Measure) -> Expectation:
    """A capacity in mAh/g, within ±3 %."""
    return Expectation(quantity, reported, "mAh/g", 0.03, "rel", measure)


def points(quantity: str, reported: float, measure: Measure) -> Expectation:
    """A percentage (CE, retention), within ±2 percentage points."""
    return Expectation(quantity, reported, "%", 2.0, "abs", measure)
