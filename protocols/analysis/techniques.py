"""Supporting techniques: DC polarisation, tortuosity, Bruce–Vincent t+, Li‖Li, CV and LSV.

- DC polarisation: σ = L/(R·A), with R = 1/(dI_ss/dΔV) from steps of ΔV (kim2025).
- Tortuosity factor of a composite: τ² = (σ0/σ_eff)·φ, φ the conducting phase's volume
  fraction (kim2025; the same as ε·σ_bulk/σ_eff in the review's notation).
- Bruce–Vincent: t+ = I_ss(ΔV − I0·R0) / (I0(ΔV − I_ss·R_ss)), R0 and R_ss the interfacial
  resistances from EIS before and after polarisation; I0 is the hold's first samples
  extrapolated to t = 0 in √t (the concentration polarisation grows as √t at first).
- Li‖Li: per half cycle the largest and the mid-plateau mean |V|, the ASR = mean|V|/|j|, and
  a short when |V| collapses; over the run, the steady plateau and when it settled.
- CV: anodic and cathodic peak potentials and currents per cycle, and their separation.
- LSV: the decomposition onset, where |j| first stays above a threshold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.analysis._data import Result, as_float_array, finite, float_column, same_length
from protocols.analysis.errors import AnalysisError


def _positive(value: float, where: str, technique: str) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise AnalysisError(technique, where, f"must be a positive number, got {value!r}.")
    return float(value)


# --- DC polarisation and tortuosity ---------------------------------------------------------
DC_TECHNIQUE = "DC polarisation"


def conductivity(resistance_ohm: float, *, thickness_cm: float, area_cm2: float) -> float:
    """σ = L/(R·A) in S/cm."""
    r = _positive(resistance_ohm, "resistance_ohm", DC_TECHNIQUE)
    length = _positive(thickness_cm, "thickness_cm", DC_TECHNIQUE)
    area = _positive(area_cm2, "area_cm2", DC_TECHNIQUE)
    return length / (r * area)


@dataclass(frozen=True)
class SteadyCurrent(Result):
    current_A: float  # mean over the tail of the hold
    change: float  # relative change from the window before the tail to the tail
    settled: bool  # |change| within tolerance


def steady_state_current(
    time_s: Any, current_A: Any, *, tail_fraction: float = 0.1, tolerance: float = 0.01
) -> SteadyCurrent:
    """I_ss of a potentiostatic hold: the mean of its last `tail_fraction`, and whether it
    still moved by more than `tolerance` (relative) from the window just before."""
    t = finite(as_float_array(time_s, "time_s", DC_TECHNIQUE), "time_s", DC_TECHNIQUE)
    i = finite(as_float_array(current_A, "current_A", DC_TECHNIQUE), "current_A", DC_TECHNIQUE)
    same_length([("time_s", t), ("current_A", i)], DC_TECHNIQUE)
    if t.size < 4:
        raise AnalysisError(DC_TECHNIQUE, "time_s", "a hold needs at least 4 samples.")
    span = t[-1] - t[0]
    tail = t >= t[-1] - tail_fraction * span
    before = (t >= t[-1] - 2 * tail_fraction * span) & ~tail
    level = float(i[tail].mean())
    if before.any() and level != 0:
        change = (level - float(i[before].mean())) / abs(level)
    else:
        change = math.nan
    return SteadyCurrent(level, change, bool(abs(change) <= tolerance))


@dataclass(frozen=True)
class DcPolarisation(Result):
    resistance_ohm: float  # 1 / (dI_ss/dΔV)
    conductivity_S_cm: float  # L / (R·A)
    intercept_A: float
    r_squared: float
    n: int
    thickness_cm: float
    area_cm2: float


def dc_polarisation(
    voltage_steps_V: Any, steady_currents_A: Any, *, thickness_cm: float, area_cm2: float
) -> DcPolarisation:
    """σ from the slope of I_ss against the applied ΔV (one or more steps; with one step the
    line goes through the origin)."""
    dv = finite(
        as_float_array(voltage_steps_V, "voltage_steps_V", DC_TECHNIQUE),
        "voltage_steps_V",
        DC_TECHNIQUE,
    )
    iss = finite(
        as_float_array(steady_currents_A, "steady_currents_A", DC_TECHNIQUE),
        "steady_currents_A",
        DC_TECHNIQUE,
    )
    same_length([("voltage_steps_V", dv), ("steady_currents_A", iss)], DC_TECHNIQUE)
    if dv.size == 0 or np.all(dv == 0):
        raise AnalysisError(DC_TECHNIQUE, "voltage_steps_V", "no non-zero voltage step given.")
    if np.unique(dv).size >= 2:
        slope, intercept = np.polyfit(dv, iss, 1)
        predicted = slope * dv + intercept
        total = float(np.sum((iss - iss.mean()) ** 2))
        r2 = 1.0 - float(np.sum((iss - predicted) ** 2)) / total if total > 0 else math.nan
    else:
        slope, intercept, r2 = float(np.sum(dv * iss) / np.sum(dv * dv)), 0.0, math.nan
    if not slope > 0:
        raise AnalysisError(
            DC_TECHNIQUE, "steady_currents_A", "the current does not rise with the voltage step."
        )
    resistance = 1.0 / float(slope)
    return DcPolarisation(
        resistance_ohm=resistance,
        conductivity_S_cm=conductivity(resistance, thickness_cm=thickness_cm, area_cm2=area_cm2),
        intercept_A=float(intercept),
        r_squared=r2,
        n=int(dv.size),
        thickness_cm=float(thickness_cm),
        area_cm2=float(area_cm2),
    )


@dataclass(frozen=True)
class Tortuosity(Result):
    tortuosity_factor: float  # τ² = (σ0/σ_eff)·φ
    tortuosity: float  # τ = √(τ²)
    sigma_bulk_S_cm: float
    sigma_eff_S_cm: float
    volume_fraction: float
    formula: str


def tortuosity_factor(
    sigma_bulk_S_cm: float, sigma_eff_S_cm: float, volume_fraction: float
) -> Tortuosity:
    """Tortuosity factor τ² = (σ0/σ_eff)·φ of the phase that conducts (kim2025)."""
    s0 = _positive(sigma_bulk_S_cm, "sigma_bulk_S_cm", DC_TECHNIQUE)
    s_eff = _positive(sigma_eff_S_cm, "sigma_eff_S_cm", DC_TECHNIQUE)
    phi = _positive(volume_fraction, "volume_fraction", DC_TECHNIQUE)
    if phi > 1:
        raise AnalysisError(DC_TECHNIQUE, "volume_fraction", "must be a fraction (0 to 1).")
    factor = s0 / s_eff * phi
    return Tortuosity(
        factor, math.sqrt(factor), s0, s_eff, phi, "τ² = (σ0/σ_eff)·φ (kim2025), τ = √τ²"
    )


# --- Bruce–Vincent ----------------------------------------------------------------------------
BV_TECHNIQUE = "Bruce-Vincent transference number"


@dataclass(frozen=True)
class InitialCurrent(Result):
    current_A: float  # I0: extrapolated to the start of the step
    first_sample_A: float
    samples: int  # how many of the first samples the extrapolation used
    rule: str


def initial_current(step_time_s: Any, current_A: Any, *, samples: int = 5) -> InitialCurrent:
    """I0 of a potentiostatic step from its first `samples` points, fitted linearly in √t and
    extrapolated to t = 0: concentration polarisation starts as √t, so even a 1 s first sample
    sits visibly below I0 when the salt diffusion time L²/(π²D) is tens of seconds. When the
    first points do not decay (or there are too few) the first sample is I0."""
    t = finite(
        as_float_array(step_time_s, "step_time_s", BV_TECHNIQUE), "step_time_s", BV_TECHNIQUE
    )
    i = finite(as_float_array(current_A, "current_A", BV_TECHNIQUE), "current_A", BV_TECHNIQUE)
    same_length([("step_time_s", t), ("current_A", i)], BV_TECHNIQUE)
    if i.size == 0:
        raise AnalysisError(BV_TECHNIQUE, "current_A", "the hold has no samples.")
    first = float(i[0])
    n = min(samples, i.size)
    root = np.sqrt(np.clip(t[:n], 0.0, None))  # t: time since the step began
    if n >= 3 and np.ptp(root) > 0:
        slope, intercept = np.polyfit(root, i[:n], 1)
        decaying = abs(intercept) >= abs(first) and slope * first < 0
        if decaying and abs(intercept) <= 1.5 * abs(first):
            return InitialCurrent(
                float(intercept),
                first,
                n,
                f"I0 = the first {n} samples extrapolated to t = 0 linearly in √t",
            )
    return InitialCurrent(first, first, 1, "I0 = the first sample (the current does not decay)")


@dataclass(frozen=True)
class Transference(Result):
    t_plus: float
    delta_V: float
    I0_A: float
    Iss_A: float
    R0_ohm: float
    Rss_ohm: float
    formula: str
    note: str


def bruce_vincent(
    *, delta_V: float, I0_A: float, Iss_A: float, R0_ohm: float, Rss_ohm: float
) -> Transference:
    """t+ = I_ss(ΔV − I0·R0) / (I0(ΔV − I_ss·R_ss)).

    I0 is the current just after the capacitive spike (or ΔV/(R_b + R0)); R0 and R_ss are the
    interfacial resistances from EIS before and after the polarisation.
    """
    dv = _positive(abs(delta_V), "delta_V", BV_TECHNIQUE)
    i0 = _positive(abs(I0_A), "I0_A", BV_TECHNIQUE)
    iss = _positive(abs(Iss_A), "Iss_A", BV_TECHNIQUE)
    r0 = float(R0_ohm)
    rss = float(Rss_ohm)
    if not (r0 >= 0 and rss >= 0):
        raise AnalysisError(BV_TECHNIQUE, "R0_ohm", "interfacial resistances cannot be negative.")
    if iss > i0:
        raise AnalysisError(
            BV_TECHNIQUE, "Iss_A", "the steady current exceeds the initial current."
        )
    denominator = i0 * (dv - iss * rss)
    numerator = iss * (dv - i0 * r0)
    if not (denominator > 0 and numerator > 0):
        raise AnalysisError(
            BV_TECHNIQUE,
            "delta_V",
            f"ΔV = {dv:g} V is smaller than the interfacial drops I0·R0 = {i0 * r0:g} V or "
            f"I_ss·R_ss = {iss * rss:g} V; no meaningful t+.",
        )
    t_plus = numerator / denominator
    return Transference(
        t_plus=t_plus,
        delta_V=dv,
        I0_A=i0,
        Iss_A=iss,
        R0_ohm=r0,
        Rss_ohm=rss,
        formula="t+ = I_ss(ΔV − I0·R0) / (I0(ΔV − I_ss·R_ss))",
        note="for a non-ideal electrolyte this is the limiting current fraction",
    )


# --- Li‖Li symmetric cycling ---------------------------------------------------------------
LILI_TECHNIQUE = "Li||Li overpotential"


@dataclass(frozen=True)
class HalfCycle(Result):
    index: int
    start_time_s: float
    duration_s: float
    current_A: float
    j_mA_cm2: float
    max_abs_V: float
    mean_abs_V: float  # over the middle half of the half cycle: the plateau
    asr_ohm_cm2: float  # mean |V| / |j|
    shorted: bool


@dataclass(frozen=True)
class SymmetricCycling(Result):
    half_cycles: tuple[HalfCycle, ...]
    short_at_s: float | None  # start of the first shorted half cycle
    short_rule: str
    cycled_s: float = 0.0  # from the first half cycle's start to the end of the last one
    stable_s: float = 0.0  # from the first half cycle's start to a short (else cycled_s)
    steady_mean_abs_V: float | None = None  # median plateau over the last half cycles
    settled_after_s: float | None = None  # from the first half cycle's start; None: never
    peak_mean_abs_V: float | None = None
    peak_after_s: float | None = None  # start of the half cycle with the highest plateau
    settle_rule: str = ""


def _settling(
    halves: list[HalfCycle], tolerance: float, final_fraction: float
) -> tuple[float | None, float | None, float | None, float | None]:
    """(steady plateau, settled after, peak plateau, peak after) of the unshorted half cycles,
    times from the first half cycle's start."""
    good = [h for h in halves if not h.shorted]
    if len(good) < 3:
        return None, None, None, None
    t0 = halves[0].start_time_s
    plateaus = np.array([h.mean_abs_V for h in good])
    tail = max(1, math.ceil(final_fraction * plateaus.size))
    steady = float(np.median(plateaus[-tail:]))
    outside = np.flatnonzero(np.abs(plateaus - steady) > tolerance * steady)
    if outside.size == 0:
        settled: float | None = 0.0
    elif outside[-1] + 1 < plateaus.size - tail:
        settled = good[outside[-1] + 1].start_time_s - t0
    else:  # not settled before the final window that defines the steady level: a drift
        settled = None
    top = int(np.argmax(plateaus))
    return steady, settled, float(plateaus[top]), good[top].start_time_s - t0


def _half_cycles(
    time: np.ndarray,
    volts: np.ndarray,
    current: np.ndarray,
    area: float,
    short_fraction: float,
    short_floor_V: float,
) -> tuple[list[HalfCycle], float | None]:
    """The half cycles between current reversals, and when the first shorted one started."""
    peak = float(np.max(np.abs(current)))
    sign = np.where(np.abs(current) > 0.05 * peak, np.sign(current), 0.0)
    edges = np.flatnonzero(np.diff(sign) != 0) + 1
    bounds = [0, *edges.tolist(), sign.size]
    halves: list[HalfCycle] = []
    short_at = None
    for a, b in itertools.pairwise(bounds):
        if sign[a] == 0 or b - a < 3:
            continue
        t, v, i = time[a:b], volts[a:b], current[a:b]
        elapsed = t - t[0]
        span = elapsed[-1]
        middle = (elapsed >= 0.25 * span) & (elapsed <= 0.75 * span)
        plateau = float(np.mean(np.abs(v[middle] if middle.any() else v)))
        level = float(np.median(i))
        j = level / area * 1e3
        previous = [h.mean_abs_V for h in halves if not h.shorted]
        collapsed = bool(previous) and plateau < short_fraction * float(np.median(previous))
        shorted = plateau < short_floor_V or collapsed
        if shorted and short_at is None:
            short_at = float(t[0])
        halves.append(
            HalfCycle(
                index=len(halves),
                start_time_s=float(t[0]),
                duration_s=float(span),
                current_A=level,
                j_mA_cm2=j,
                max_abs_V=float(np.max(np.abs(v))),
                mean_abs_V=plateau,
                asr_ohm_cm2=plateau / (abs(level) / area),
                shorted=bool(shorted),
            )
        )
    return halves, short_at


def symmetric_overpotential(
    samples: Mapping[str, Any],
    *,
    area_cm2: float,
    short_fraction: float = 0.2,
    short_floor_V: float = 1e-3,
    settle_tolerance: float = 0.1,
    final_fraction: float = 0.2,
) -> SymmetricCycling:
    """Per half cycle of plating/stripping: max and plateau |V|, ASR and a short flag.

    A half cycle is shorted when its plateau |V| falls under `short_floor_V` or under
    `short_fraction` of the median plateau of the half cycles before it. Over the run: the
    steady plateau (the median of the last `final_fraction` of the unshorted half cycles) and
    the time after which every plateau stays within `settle_tolerance` of it.
    """
    area = _positive(area_cm2, "area_cm2", LILI_TECHNIQUE)
    tech = LILI_TECHNIQUE
    time = finite(float_column(samples, "test_time_s", tech), "test_time_s", tech)
    volts = finite(float_column(samples, "voltage_V", tech), "voltage_V", tech)
    current = np.nan_to_num(float_column(samples, "current_A", tech))
    same_length([("test_time_s", time), ("voltage_V", volts), ("current_A", current)], tech)
    peak = float(np.max(np.abs(current))) if current.size else 0.0
    if peak == 0:
        raise AnalysisError(LILI_TECHNIQUE, "current_A", "no current flows in the data.")
    halves, short_at = _half_cycles(time, volts, current, area, short_fraction, short_floor_V)
    rule = (
        f"shorted when the plateau |V| < {short_floor_V * 1e3:g} mV or < "
        f"{short_fraction:g}× the median plateau before it"
    )
    if not halves:
        return SymmetricCycling((), None, rule)
    t0 = halves[0].start_time_s
    cycled = halves[-1].start_time_s + halves[-1].duration_s - t0
    steady, settled, peak_plateau, peak_at = _settling(halves, settle_tolerance, final_fraction)
    return SymmetricCycling(
        tuple(halves),
        short_at,
        rule,
        cycled_s=cycled,
        stable_s=cycled if short_at is None else short_at - t0,
        steady_mean_abs_V=steady,
        settled_after_s=settled,
        peak_mean_abs_V=peak_plateau,
        peak_after_s=peak_at,
        settle_rule=(
            f"settled once every later plateau |V| stays within ±{100 * settle_tolerance:g} % "
            f"of the steady one (the median of the last {100 * final_fraction:g} % of the "
            "unshorted half cycles), from before that final stretch on"
        ),
    )


# --- CV and LSV ---------------------------------------------------------------------------------
CV_TECHNIQUE = "CV peaks"


@dataclass(frozen=True)
class CvCycle(Result):
    cycle: int
    E_pa_V: float
    i_pa_A: float
    E_pc_V: float | None
    i_pc_A: float | None
    delta_Ep_V: float | None  # E_pa − E_pc


def cv_peaks(voltage_V: Any, current_A: Any, *, min_points: int = 5) -> tuple[CvCycle, ...]:
    """Anodic (V rising, largest I) and cathodic (V falling, most negative I) peaks per cycle.

    A cycle is one anodic sweep and the cathodic sweep that follows it.
    """
    v = finite(as_float_array(voltage_V, "voltage_V", CV_TECHNIQUE), "voltage_V", CV_TECHNIQUE)
    i = finite(as_float_array(current_A, "current_A", CV_TECHNIQUE), "current_A", CV_TECHNIQUE)
    same_length([("voltage_V", v), ("current_A", i)], CV_TECHNIQUE)
    if v.size < 2 * min_points:
        raise AnalysisError(CV_TECHNIQUE, "voltage_V", "too few points for a voltammogram.")
    direction = np.sign(np.diff(v))
    for k in range(1, direction.size):  # hold the direction through flat points
        if direction[k] == 0:
            direction[k] = direction[k - 1]
    edges = np.flatnonzero(np.diff(direction) != 0) + 1
    bounds = [0, *edges.tolist(), direction.size]
    sweeps = [
        (int(direction[a]), a, b + 1)
        for a, b in itertools.pairwise(bounds)
        if b - a >= min_points and direction[a] != 0
    ]
    cycles: list[CvCycle] = []
    k = 0
    while k < len(sweeps):
        sense, a, b = sweeps[k]
        if sense < 0:
            k += 1
            continue
        top = a + int(np.argmax(i[a:b]))
        e_pc = i_pc = None
        if k + 1 < len(sweeps) and sweeps[k + 1][0] < 0:
            _, c, d = sweeps[k + 1]
            bottom = c + int(np.argmin(i[c:d]))
            e_pc, i_pc = float(v[bottom]), float(i[bottom])
            k += 1
        cycles.append(
            CvCycle(
                cycle=len(cycles) + 1,
                E_pa_V=float(v[top]),
                i_pa_A=float(i[top]),
                E_pc_V=e_pc,
                i_pc_A=i_pc,
                delta_Ep_V=float(v[top]) - e_pc if e_pc is not None else None,
            )
        )
        k += 1
    if not cycles:
        raise AnalysisError(CV_TECHNIQUE, "voltage_V", "no anodic sweep found in the data.")
    return tuple(cycles)


LSV_TECHNIQUE = "LSV onset"


@dataclass(frozen=True)
class LsvOnset(Result):
    onset_V: float | None
    threshold_mA_cm2: float
    area_cm2: float
    max_j_mA_cm2: float


def lsv_onset(
    voltage_V: Any,
    current_A: Any,
    *,
    area_cm2: float,
    threshold_mA_cm2: float = 0.01,
    persist: int = 3,
) -> LsvOnset:
    """The potential where |j| first exceeds the threshold and stays above it for `persist`
    points, interpolated between the samples either side (None if it never does)."""
    v = finite(as_float_array(voltage_V, "voltage_V", LSV_TECHNIQUE), "voltage_V", LSV_TECHNIQUE)
    i = finite(as_float_array(current_A, "current_A", LSV_TECHNIQUE), "current_A", LSV_TECHNIQUE)
    same_length([("voltage_V", v), ("current_A", i)], LSV_TECHNIQUE)
    area = _positive(area_cm2, "area_cm2", LSV_TECHNIQUE)
    threshold = _positive(threshold_mA_cm2, "threshold_mA_cm2", LSV_TECHNIQUE)
    j = np.abs(i) / area * 1e3
    above = j > threshold
    onset = None
    for k in range(j.size - persist + 1):
        if above[k : k + persist].all():
            if k == 0:
                onset = float(v[0])
            else:
                w = (threshold - j[k - 1]) / (j[k] - j[k - 1])
                onset = float(v[k - 1] + w * (v[k] - v[k - 1]))
            break
    return LsvOnset(onset, threshold, area, float(j.max()) if j.size else math.nan)
