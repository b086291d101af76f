"""Rate capability: discharge capacity per C-rate block, normalised, with recovery.

A block is a run of consecutive cycles at one discharge C-rate. Each block gives mean ± sd of
the discharge capacity (the first cycle of each block left out if asked: it carries the
previous rate's history), normalised to the first block at the lowest rate. Recovery is the
last block's mean over that reference when the ladder returns to the reference rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.analysis._data import Result, finite, float_column
from protocols.analysis.cycles import CycleSummary
from protocols.analysis.errors import AnalysisError

TECHNIQUE = "rate table"


@dataclass(frozen=True)
class RateRow(Result):
    block: int
    c_rate: float
    cycles: tuple[int, ...]
    used_cycles: tuple[int, ...]
    mean: float  # discharge capacity, in the table's unit
    sd: float  # sample standard deviation (0 for a single cycle)
    normalised: float  # mean / reference block's mean
    mean_discharge_V: float | None


@dataclass(frozen=True)
class RateTable(Result):
    rows: tuple[RateRow, ...]
    unit: str  # "mAh/g" or "mAh"
    reference: str  # which block the normalisation uses, in words
    recovery: float | None  # last block / reference block, when the ladder returns to it
    exclude_first: bool


def discharge_c_rates(
    samples: Mapping[str, Any], one_c_A: float, *, digits: int = 2
) -> dict[int, float]:
    """Each cycle's discharge C-rate: median |I| of its discharge samples / 1C current.

    Rounded to `digits` significant digits so that 0.0999 C reads as the 0.1C it was set to.
    """
    if not one_c_A > 0:
        raise AnalysisError(TECHNIQUE, "one_c_A", "the 1C current must be positive.")
    current = np.nan_to_num(float_column(samples, "current_A", TECHNIQUE))
    cycles = finite(float_column(samples, "cycle", TECHNIQUE), "cycle", TECHNIQUE).astype(int)
    rates: dict[int, float] = {}
    for number in np.unique(cycles):
        discharge = current[(cycles == number) & (current < 0)]
        if discharge.size:
            rate = float(np.median(-discharge)) / one_c_A
            rates[int(number)] = float(f"{rate:.{digits}g}")
    return rates


def _capacity(row: CycleSummary) -> tuple[float, str]:
    if row.discharge_mAh_g is not None:
        return row.discharge_mAh_g, "mAh/g"
    return row.discharge_mAh, "mAh"


def rate_table(
    summary: Sequence[CycleSummary],
    c_rates: Mapping[int, float] | Sequence[float],
    *,
    exclude_first: bool = False,
    rel_tol: float = 0.02,
) -> RateTable:
    """Blocks of equal discharge C-rate from a cycle summary, with recovery at the end.

    `c_rates` maps cycle number → discharge C-rate (see `discharge_c_rates`), or lists one rate
    per summary row. Cycles without a rate are left out.
    """
    if not summary:
        raise AnalysisError(TECHNIQUE, "summary", "the cycle summary is empty.")
    rate_of = _rate_of(summary, c_rates)
    rows = [r for r in summary if r.cycle in rate_of and math.isfinite(rate_of[r.cycle])]
    if not rows:
        raise AnalysisError(TECHNIQUE, "c_rates", "no cycle of the summary has a C-rate.")
    blocks: list[list[CycleSummary]] = []
    for row in rows:
        rate = rate_of[row.cycle]
        if blocks and math.isclose(rate_of[blocks[-1][0].cycle], rate, rel_tol=rel_tol):
            blocks[-1].append(row)
        else:
            blocks.append([row])
    unit = _capacity(rows[0])[1]
    stats = [_block_stats(block, exclude_first) for block in blocks]
    lowest = min(rate_of[b[0].cycle] for b in blocks)
    ref_index = next(
        i
        for i, b in enumerate(blocks)
        if math.isclose(rate_of[b[0].cycle], lowest, rel_tol=rel_tol)
    )
    ref_mean = stats[ref_index][2]
    table_rows = tuple(
        RateRow(
            block=i,
            c_rate=rate_of[block[0].cycle],
            cycles=tuple(r.cycle for r in block),
            used_cycles=tuple(r.cycle for r in used),
            mean=mean,
            sd=sd,
            normalised=mean / ref_mean if ref_mean > 0 else math.nan,
            mean_discharge_V=volts,
        )
        for i, (block, used, mean, sd, volts) in enumerate(stats)
    )
    last = table_rows[-1]
    recovery = (
        last.mean / ref_mean
        if len(table_rows) > 1
        and last.block != ref_index
        and math.isclose(last.c_rate, lowest, rel_tol=rel_tol)
        and ref_mean > 0
        else None
    )
    ref = table_rows[ref_index]
    reference = (
        f"block {ref.block} at {ref.c_rate:g}C (cycles {ref.cycles[0]}–{ref.cycles[-1]}), "
        "the first block at the lowest rate"
    )
    return RateTable(table_rows, unit, reference, recovery, exclude_first)


def _rate_of(
    summary: Sequence[CycleSummary], c_rates: Mapping[int, float] | Sequence[float]
) -> dict[int, float]:
    """Cycle number → discharge C-rate, from a mapping or from one rate per summary row."""
    if isinstance(c_rates, Mapping):
        return {int(k): float(v) for k, v in c_rates.items()}
    rates = list(c_rates)
    if len(rates) != len(summary):
        raise AnalysisError(
            TECHNIQUE,
            "c_rates",
            f"{len(rates)} rates for {len(summary)} cycles; give one per cycle.",
        )
    return {row.cycle: float(r) for row, r in zip(summary, rates, strict=True)}


def _block_stats(
    block: list[CycleSummary], exclude_first: bool
) -> tuple[list[CycleSummary], list[CycleSummary], float, float, float | None]:
    """(block, cycles used, mean, sd, mean discharge voltage) of one block's capacities."""
    used = block[1:] if exclude_first and len(block) > 1 else block
    values = np.array([_capacity(r)[0] for r in used])
    volts = [r.mean_discharge_V for r in used if r.mean_discharge_V is not None]
    return (
        block,
        used,
        float(values.mean()),
        float(values.std(ddof=1)) if values.size > 1 else 0.0,
        float(np.mean(volts)) if volts else None,
    )
