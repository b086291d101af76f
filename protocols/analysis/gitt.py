"""GITT: the Weppner–Huggins diffusion coefficient of each pulse, with its validity.

Each pulse is found from the current (a run of samples above a threshold, ramp points dropped)
and read with the rest on either side of it (Kim et al., JECST 2022 notation):

- E1: relaxed potential before the pulse (mean of the rest's tail);
- E2: potential just after the IR jump, the intercept of E against √t fitted over the pulse
  (the first part of the pulse, where the IR and double-layer transients live, is excluded);
- E3: potential at the end of the pulse; E4: relaxed potential after the following rest.

ΔEs = E4 − E1 and ΔEt = E3 − E2 give D = 4L²/(πτ)·(ΔEs/ΔEt)², and the √t slope gives
D = (4/π)·(L·(ΔEs/τ)/(dE/d√t))². Both need τ ≪ L²/D: every pulse where that fails, where ΔEs is
lost in the noise, or where the rest had not relaxed is flagged with the reason. L = V/S is the
caller's: the same D means very different things at electrode and at particle level, so the
result states the convention it used.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from protocols.analysis._data import Result, finite, float_column, same_length
from protocols.analysis.errors import AnalysisError

TECHNIQUE = "GITT analysis"
DRIFT_FRACTION = 0.25  # the end drift of a rest is fitted over its last quarter
SETTLE_WINDOW = (0.5, 0.6)  # the rest's level here is compared with its end level
SETTLE_SIGMAS = 3.0  # only settling beyond this many standard errors counts as real
GEOMETRIES = {
    "electrode": (
        "electrode-level geometry: V = active-material volume, S = geometric electrode area, "
        "so L is the active loading divided by the material density"
    ),
    "particle": (
        "particle-level geometry: V and S of the active particles (L = r/3 for spheres of radius r)"
    ),
}


@dataclass(frozen=True)
class GittPulse(Result):
    """One current pulse and its relaxation; potentials in V, times in s, D in cm²/s."""

    index: int
    start_time_s: float
    tau_s: float
    current_A: float
    charge_Ah: float  # net charge passed since the start of the data, at the end of the pulse
    soc: float | None  # initial_soc + charge / capacity, when a capacity was given
    E1_V: float
    E2_V: float
    E3_V: float
    E4_V: float
    delta_Es_V: float
    delta_Et_V: float
    ir_V: float  # E2 − E1
    resistance_ohm: float  # (E2 − E1) / I
    sqrt_slope_V_per_sqrt_s: float  # dE/d√t over the fit window
    fit_r2: float
    fit_points: int
    D_cm2_s: float  # 4L²/(πτ)·(ΔEs/ΔEt)²
    D_sqrt_cm2_s: float  # (4/π)·(L·(ΔEs/τ)/(dE/d√t))²
    tau_D_over_L2: float  # τ·D/L², from this pulse's own D
    rest_s: float  # duration of the rest after the pulse
    end_drift_V_per_s: float  # dE/dt over the tail of that rest
    noise_V: float  # scatter of the rest tails around their trend
    valid: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GittResult(Result):
    """Every pulse found, the diffusion length used, and the conventions behind the numbers."""

    pulses: tuple[GittPulse, ...]
    diffusion_length_cm: float
    geometry: str
    convention: str
    criteria: str

    @property
    def valid_pulses(self) -> tuple[GittPulse, ...]:
        return tuple(p for p in self.pulses if p.valid)


@dataclass(frozen=True)
class _Tail:
    level: float  # mean of the tail
    noise: float  # residual standard deviation around the tail's linear trend
    count: int
    drift: float  # dE/dt over the last quarter of the rest
    settling: float  # level minus the mean at 50-60 % of the rest: how far it still moved
    settling_se: float  # standard error of that difference from the noise
    duration: float  # the whole rest's duration


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True values."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _split_by_sign(current: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    """Split a run of current-on samples where the direction of the current reverses."""
    signs = np.sign(current[first : last + 1])
    cuts = np.flatnonzero(np.diff(signs) != 0) + 1
    bounds = [0, *cuts.tolist(), last - first + 1]
    return [(first + a, first + b - 1) for a, b in itertools.pairwise(bounds)]


def _last(time: np.ndarray, fraction: float, minimum: int = 5) -> np.ndarray:
    """Mask of the samples in the last `fraction` of a record (at least `minimum` of them)."""
    chosen = time >= time[-1] - fraction * (time[-1] - time[0])
    if chosen.sum() < minimum:
        chosen = np.zeros(time.size, dtype=bool)
        chosen[-min(minimum, time.size) :] = True
    return chosen


def _rest_tail(time: np.ndarray, volts: np.ndarray, tail_fraction: float) -> _Tail | None:
    """The relaxed end of a rest: its level, noise, end drift and how much it still settled."""
    if time.size < 2:
        return None
    duration = float(time[-1] - time[0])
    level_mask = _last(time, tail_fraction)
    level = float(volts[level_mask].mean())
    count = int(level_mask.sum())
    drift_mask = _last(time, max(tail_fraction, DRIFT_FRACTION))
    t, v = time[drift_mask], volts[drift_mask]
    if t.size < 4 or np.ptp(t) <= 0:
        return _Tail(level, math.nan, count, math.nan, math.nan, math.nan, duration)
    slope, intercept = np.polyfit(t - t.mean(), v, 1)
    residual = v - (slope * (t - t.mean()) + intercept)
    noise = float(np.sqrt(np.sum(residual**2) / (t.size - 2)))
    elapsed = time - time[0]
    middle = (elapsed >= SETTLE_WINDOW[0] * duration) & (elapsed <= SETTLE_WINDOW[1] * duration)
    if middle.sum() >= 3:
        settling = level - float(volts[middle].mean())
        settling_se = noise * math.sqrt(1.0 / count + 1.0 / float(middle.sum()))
    else:
        settling = settling_se = math.nan
    return _Tail(level, noise, count, float(slope), settling, settling_se, duration)


def _sqrt_fit(
    t_rel: np.ndarray, volts: np.ndarray, tau: float, window: tuple[float, float]
) -> tuple[float, float, float, int]:
    """(slope dE/d√t, intercept E2, R², points) of E against √t inside the window (× τ)."""
    chosen = (t_rel >= window[0] * tau) & (t_rel <= window[1] * tau * (1 + 1e-9))
    n = int(chosen.sum())
    if n < 3:
        return math.nan, math.nan, math.nan, n
    x = np.sqrt(t_rel[chosen])
    y = volts[chosen]
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    return float(slope), float(intercept), r2, n


def _net_charge(samples: Mapping[str, Any], time: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Net charge (Ah) since the first sample: the instrument's own counters when present,
    else each sample's current over the interval that ends at it (how cyclers log)."""
    charged = float_column(samples, "charge_capacity_Ah", TECHNIQUE, required=False)
    discharged = float_column(samples, "discharge_capacity_Ah", TECHNIQUE, required=False)
    if (
        charged is not None
        and discharged is not None
        and charged.size == time.size == discharged.size
        and np.all(np.isfinite(charged))
        and np.all(np.isfinite(discharged))
    ):
        net = charged - discharged
        return net - net[0]
    return np.concatenate(([0.0], np.cumsum(current[1:] * np.diff(time)) / 3600.0))


def _check_options(
    diffusion_length_cm: float,
    geometry: str,
    fit_window: tuple[float, float],
    validity_ratio: float,
    capacity_Ah: float | None,
) -> None:
    if not (math.isfinite(diffusion_length_cm) and diffusion_length_cm > 0):
        raise AnalysisError(
            TECHNIQUE, "diffusion_length_cm", "the diffusion length must be a positive number."
        )
    if diffusion_length_cm > 1.0:
        raise AnalysisError(
            TECHNIQUE,
            "diffusion_length_cm",
            f"{diffusion_length_cm:g} cm is not a plausible diffusion length; give L in cm "
            "(e.g. 37.9 µm = 3.79e-3 cm).",
        )
    if geometry not in GEOMETRIES:
        raise AnalysisError(
            TECHNIQUE, "geometry", f"{geometry!r} is not one of {', '.join(GEOMETRIES)}."
        )
    lo, hi = fit_window
    if not (0.0 <= lo < hi <= 1.0):
        raise AnalysisError(
            TECHNIQUE,
            "fit_window",
            f"{fit_window} must be two fractions of the pulse time with 0 <= start < end <= 1.",
        )
    if not 0.0 < validity_ratio <= 1.0:
        raise AnalysisError(TECHNIQUE, "validity_ratio", "must lie in (0, 1].")
    if capacity_Ah is not None and not capacity_Ah > 0:
        raise AnalysisError(TECHNIQUE, "capacity_Ah", "the capacity must be positive.")


@dataclass(frozen=True)
class _Record:
    """The columns of a GITT record, checked: finite, of one length, time never going back."""

    time: np.ndarray
    volts: np.ndarray
    current: np.ndarray
    step_time: np.ndarray | None
    charge_Ah: np.ndarray  # net charge since the first sample


@dataclass(frozen=True)
class _Settings:
    """The caller's options for reading every pulse, and when a pulse's D is trusted."""

    length: float  # the diffusion length L, cm
    fit_window: tuple[float, float]
    ramp_tolerance: float
    tail_fraction: float
    capacity_Ah: float | None
    initial_soc: float
    validity_ratio: float
    min_fit_r2: float
    min_signal_to_noise: float
    relaxation_tolerance: float

    def criteria(self) -> str:
        return (
            f"valid when τ·D/L² < {self.validity_ratio:g} (τ ≪ L²/D, with the pulse's own D); "
            f"|ΔEs| ≥ {self.min_signal_to_noise:g}× its standard error from the rest noise; "
            f"each rest moves ≤ {self.relaxation_tolerance:g}·|ΔEs| over its second half; "
            f"E–√t fit R² ≥ {self.min_fit_r2:g} over "
            f"{self.fit_window[0]:g}–{self.fit_window[1]:g} τ."
        )


def analyze_gitt(
    samples: Mapping[str, Any],
    *,
    diffusion_length_cm: float,
    geometry: Literal["electrode", "particle"] = "electrode",
    current_threshold_A: float | None = None,
    fit_window: tuple[float, float] = (0.2, 1.0),
    validity_ratio: float = 0.1,
    capacity_Ah: float | None = None,
    initial_soc: float = 0.0,
    ramp_tolerance: float = 0.02,
    tail_fraction: float = 0.1,
    min_fit_r2: float = 0.98,
    min_signal_to_noise: float = 20.0,
    relaxation_tolerance: float = 0.1,
) -> GittResult:
    """Weppner–Huggins D for every pulse in a GITT record (BDF sample columns).

    `fit_window` is the part of each pulse, as fractions of τ, where E is regressed on √t.
    A pulse is valid when τ·D/L² < `validity_ratio` (its own D), |ΔEs| is at least
    `min_signal_to_noise` times its standard error from the rest noise, neither rest moved more
    than `relaxation_tolerance`·|ΔEs| over its second half (from its mean at 50–60 % of the rest
    to its end level; beyond 3 standard errors), and the √t fit has R² ≥ `min_fit_r2`.
    """
    _check_options(diffusion_length_cm, geometry, fit_window, validity_ratio, capacity_Ah)
    settings = _Settings(
        length=diffusion_length_cm,
        fit_window=fit_window,
        ramp_tolerance=ramp_tolerance,
        tail_fraction=tail_fraction,
        capacity_Ah=capacity_Ah,
        initial_soc=initial_soc,
        validity_ratio=validity_ratio,
        min_fit_r2=min_fit_r2,
        min_signal_to_noise=min_signal_to_noise,
        relaxation_tolerance=relaxation_tolerance,
    )
    record = _record(samples)
    current = record.current
    peak = float(np.max(np.abs(current)))
    threshold = 0.05 * peak if current_threshold_A is None else float(current_threshold_A)
    if peak == 0.0 or not threshold < peak:
        raise AnalysisError(
            TECHNIQUE, "current_A", f"no current pulse above {threshold:g} A in the data."
        )
    on = np.abs(current) > threshold
    segments = [piece for run in _runs(on) for piece in _split_by_sign(current, *run)]
    pulses: list[GittPulse] = []
    for k, (first, last) in enumerate(segments):
        before_start = segments[k - 1][1] + 1 if k > 0 else 0
        after_end = segments[k + 1][0] - 1 if k + 1 < len(segments) else current.size - 1
        pulse = _pulse(record, (first, last), (before_start, after_end), len(pulses), settings)
        if pulse is not None:
            pulses.append(pulse)
    if not pulses:
        raise AnalysisError(
            TECHNIQUE,
            "current_A",
            f"no constant-current pulse of at least 3 samples above {threshold:g} A was found.",
        )
    length = diffusion_length_cm
    convention = (
        f"Weppner-Huggins, D = 4L²/(πτ)·(ΔEs/ΔEt)² and D = (4/π)·(L·(ΔEs/τ)/(dE/d√t))², "
        f"with L = V/S = {length * 1e4:.4g} µm ({GEOMETRIES[geometry]})."
    )
    return GittResult(tuple(pulses), length, geometry, convention, settings.criteria())


def _record(samples: Mapping[str, Any]) -> _Record:
    """The record's time, voltage, current (and step time) columns, or the AnalysisError why not."""
    time = finite(float_column(samples, "test_time_s", TECHNIQUE), "test_time_s", TECHNIQUE)
    volts = finite(float_column(samples, "voltage_V", TECHNIQUE), "voltage_V", TECHNIQUE)
    current = finite(float_column(samples, "current_A", TECHNIQUE), "current_A", TECHNIQUE)
    step_time = float_column(samples, "step_time_s", TECHNIQUE, required=False)
    columns = [("test_time_s", time), ("voltage_V", volts), ("current_A", current)]
    if step_time is not None:
        columns.append(("step_time_s", step_time))
    n = same_length(columns, TECHNIQUE)
    if n < 3:
        raise AnalysisError(TECHNIQUE, "samples", "fewer than 3 samples: nothing to analyse.")
    if np.any(np.diff(time) < 0):
        where = int(np.flatnonzero(np.diff(time) < 0)[0]) + 1
        raise AnalysisError(
            TECHNIQUE, "test_time_s", f"test time goes backwards at sample {where}."
        )
    return _Record(time, volts, current, step_time, _net_charge(samples, time, current))


def _pulse(
    record: _Record,
    pulse: tuple[int, int],
    around: tuple[int, int],
    index: int,
    settings: _Settings,
) -> GittPulse | None:
    """The pulse on samples `pulse` (first, last) read with the rests up to `around`; None when
    it has fewer than 3 steady samples or no duration."""
    first, last = pulse
    time, volts, current = record.time, record.volts, record.current
    level = float(np.median(current[first : last + 1]))
    samples = np.arange(first, last + 1)
    steady = samples[np.abs(current[samples] - level) <= settings.ramp_tolerance * abs(level)]
    if steady.size < 3:
        return None
    step_time = record.step_time
    if step_time is not None and math.isfinite(step_time[first]):
        t0 = float(time[first] - step_time[first])
    elif first > 0:
        t0 = float(time[first - 1])
    else:
        t0 = float(time[first] - (time[first + 1] - time[first]))
    tau = float(time[last] - t0)
    if tau <= 0:
        return None
    before_start, after_end = around
    tail_fraction = settings.tail_fraction
    before = _rest_tail(time[before_start:first], volts[before_start:first], tail_fraction)
    after = _rest_tail(
        time[last + 1 : after_end + 1], volts[last + 1 : after_end + 1], tail_fraction
    )
    slope, e2, r2, fit_points = _sqrt_fit(
        time[steady] - t0, volts[steady], tau, settings.fit_window
    )
    e1 = before.level if before else math.nan
    e4 = after.level if after else math.nan
    e3 = float(volts[steady[-1]])
    delta_s, delta_t = e4 - e1, e3 - e2
    length = settings.length
    with np.errstate(divide="ignore", invalid="ignore"):
        d_wh = 4.0 * length**2 / (math.pi * tau) * (delta_s / delta_t) ** 2
        d_sqrt = 4.0 / math.pi * (length * (delta_s / tau) / slope) ** 2
    ratio = tau * d_wh / length**2
    noises = [t.noise for t in (before, after) if t and math.isfinite(t.noise)]
    reasons = _reasons(before, after, delta_s, delta_t, level, ratio, r2, settings)
    charge_end = float(record.charge_Ah[last])
    capacity_Ah = settings.capacity_Ah
    return GittPulse(
        index=index,
        start_time_s=t0,
        tau_s=tau,
        current_A=level,
        charge_Ah=charge_end,
        soc=settings.initial_soc + charge_end / capacity_Ah if capacity_Ah else None,
        E1_V=e1,
        E2_V=e2,
        E3_V=e3,
        E4_V=e4,
        delta_Es_V=delta_s,
        delta_Et_V=delta_t,
        ir_V=e2 - e1,
        resistance_ohm=(e2 - e1) / level,
        sqrt_slope_V_per_sqrt_s=slope,
        fit_r2=r2,
        fit_points=fit_points,
        D_cm2_s=float(d_wh),
        D_sqrt_cm2_s=float(d_sqrt),
        tau_D_over_L2=float(ratio),
        rest_s=after.duration if after else 0.0,
        end_drift_V_per_s=after.drift if after else math.nan,
        noise_V=float(np.mean(noises)) if noises else math.nan,
        valid=not reasons,
        reasons=tuple(reasons),
    )


def _reasons(
    before: _Tail | None,
    after: _Tail | None,
    delta_s: float,
    delta_t: float,
    level: float,
    ratio: float,
    r2: float,
    settings: _Settings,
) -> list[str]:
    """Why a pulse's D cannot be trusted; empty when it can."""
    validity_ratio, min_fit_r2 = settings.validity_ratio, settings.min_fit_r2
    min_signal_to_noise = settings.min_signal_to_noise
    relaxation_tolerance = settings.relaxation_tolerance
    reasons: list[str] = []
    if before is None:
        reasons.append("no rest before the pulse (E1 unknown)")
    if after is None:
        reasons.append("no rest after the pulse (E4 unknown)")
    if not math.isfinite(r2):
        reasons.append("too few points in the √t fit window")
    if reasons:
        return reasons
    assert before is not None and after is not None  # else a reason was given above
    if not delta_s * level > 0:
        reasons.append("ΔEs does not follow the current (plateau or unrelaxed rest)")
    if not delta_t * level > 0:
        reasons.append("ΔEt does not follow the current")
    if math.isfinite(ratio) and ratio >= validity_ratio:
        reasons.append(f"τ·D/L² = {ratio:.3g} ≥ {validity_ratio:g}: the pulse is not ≪ L²/D")
    standard_error = math.sqrt(
        sum(t.noise**2 / t.count for t in (before, after) if math.isfinite(t.noise))
    )
    if abs(delta_s) < min_signal_to_noise * standard_error:
        reasons.append(
            f"ΔEs = {delta_s * 1e3:.3g} mV is under {min_signal_to_noise:g}× its noise "
            f"({standard_error * 1e3:.2g} mV)"
        )
    for name, tail in (("before", before), ("after", after)):
        if not math.isfinite(tail.settling):
            continue
        real = max(0.0, abs(tail.settling) - SETTLE_SIGMAS * tail.settling_se)
        if real > relaxation_tolerance * abs(delta_s):
            reasons.append(
                f"the rest {name} the pulse had not relaxed (it moved "
                f"{tail.settling * 1e3:.3g} mV over its second half; "
                f"dE/dt = {tail.drift * 3.6e6:.3g} mV/h at its end)"
            )
    if r2 < min_fit_r2:
        reasons.append(f"E vs √t is not linear (R² = {r2:.4f} < {min_fit_r2:g})")
    return reasons
