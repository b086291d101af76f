"""GITT: the diffusion coefficient of each pulse, by Weppner–Huggins and by a model fit.

Each pulse is found from the current (a run of samples above a threshold, ramp points dropped)
and read with the rest on either side of it (Kim et al., JECST 2022 notation):

- E1: relaxed potential before the pulse (mean of the rest's tail);
- E2: potential just after the IR jump, the intercept of E against √t fitted over the pulse
  (the first part of the pulse, where the IR and double-layer transients live, is excluded);
- E3: potential at the end of the pulse; E4: relaxed potential after the following rest.

ΔEs = E4 − E1 and ΔEt = E3 − E2 give D = 4L²/(πτ)·(ΔEs/ΔEt)², and the √t slope gives
D = (4/π)·(L·(ΔEs/τ)/(dE/d√t))². Both need τ ≪ L²/D and are biased low on spheres even then
(−12 % at τ·D/L² = 0.02); the model fit (`gitt_model`) of the pulse and its relaxation with the
exact spherical (or planar) solution has no such bias, and each pulse states the bias
Weppner–Huggins has at its fitted D. Validity is judged with the fitted D: every pulse where
τ ≪ L²/D fails, where ΔEs is lost in the noise, where the rest had not relaxed, where the model
does not fit, or where E(x) is not linear over the composition the surface swept (from the
neighbouring pulses' relaxed voltages) is flagged with the reason. L = V/S is the caller's:
the same D means very different things at electrode and at particle level, so the result
states the convention it used.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from protocols.analysis._data import Result, finite, float_column, same_length
from protocols.analysis.errors import AnalysisError
from protocols.analysis.gitt_model import (
    MODELS,
    Model,
    ModelFit,
    fit_transient,
    linearity_changes,
    transient_samples,
    weppner_huggins_bias,
)
from protocols.analysis.gitt_signal import Tail, rest_tail, runs, split_by_sign, sqrt_fit

TECHNIQUE = "GITT analysis"
LINEARITY_SIGMAS = 3.0  # a dE/dx change counts beyond this many standard errors
WH_ONLY = "Weppner–Huggins:"  # reasons that leave the model-fitted D standing
WH_AGREEMENT = 0.3  # Weppner–Huggins may stray this far from the fit's D × (1 + its bias)
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
    delta_Es_se_V: float  # standard error of ΔEs from the rests' noise
    ir_V: float  # E2 − E1
    resistance_ohm: float  # (E2 − E1) / I
    sqrt_slope_V_per_sqrt_s: float  # dE/d√t over the fit window
    fit_r2: float
    fit_points: int
    D_cm2_s: float  # 4L²/(πτ)·(ΔEs/ΔEt)²
    D_sqrt_cm2_s: float  # (4/π)·(L·(ΔEs/τ)/(dE/d√t))²
    D_model_cm2_s: float  # fitted with the exact diffusion solution (NaN: no fit)
    model_rmse_V: float  # residual of that fit
    wh_bias: float  # D_WH/D − 1 that Weppner–Huggins has on this pulse at the fitted D
    dEdx_change: float  # relative change of dE/dx over the composition the surface swept
    tau_D_over_L2: float  # τ·D/L², with the fitted D (Weppner–Huggins' when there is no fit)
    rest_s: float  # duration of the rest after the pulse
    end_drift_V_per_s: float  # dE/dt over the tail of that rest
    noise_V: float  # scatter of the rest tails around their trend
    valid: bool  # both D can be trusted
    reasons: tuple[str, ...]

    @property
    def model_valid(self) -> bool:
        """The model-fitted D can be trusted: only Weppner–Huggins' own conditions failed."""
        return all(r.startswith(WH_ONLY) for r in self.reasons)


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

    @property
    def model_valid_pulses(self) -> tuple[GittPulse, ...]:
        return tuple(p for p in self.pulses if p.model_valid)


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
    model: Model = "sphere"
    linearity_tolerance: float = 0.15
    model_fit_sigmas: float = 2.0

    def criteria(self) -> str:
        return (
            f"valid when τ·D/L² < {self.validity_ratio:g} (τ ≪ L²/D, with the fitted D; "
            "Weppner–Huggins only, as is the √t fit's R²); "
            f"the {self.model} diffusion model fits within {self.model_fit_sigmas:g}× the rest "
            f"noise; dE/dx changes ≤ {self.linearity_tolerance:g} (relative, beyond "
            f"{LINEARITY_SIGMAS:g} standard errors) over the composition the surface swept (from "
            "the neighbouring pulses, when there are); "
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
    model: Model = "sphere",
    linearity_tolerance: float = 0.15,
) -> GittResult:
    """Weppner–Huggins and model-fitted D for every pulse in a GITT record (BDF columns).

    `model` is the diffusion geometry the fit uses ("sphere": radius 3L; "planar": a slab of
    thickness L); `linearity_tolerance` the largest relative change of dE/dx over the
    composition a pulse's surface swept.

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
        model=model,
        linearity_tolerance=linearity_tolerance,
    )
    if model not in MODELS:
        raise AnalysisError(TECHNIQUE, "model", f"{model!r} is not one of {', '.join(MODELS)}.")
    record = _record(samples)
    current = record.current
    peak = float(np.max(np.abs(current)))
    threshold = 0.05 * peak if current_threshold_A is None else float(current_threshold_A)
    if peak == 0.0 or not threshold < peak:
        raise AnalysisError(
            TECHNIQUE, "current_A", f"no current pulse above {threshold:g} A in the data."
        )
    on = np.abs(current) > threshold
    segments = [piece for run in runs(on) for piece in split_by_sign(current, *run)]
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
    pulses = _judge_linearity(pulses, settings)
    length = diffusion_length_cm
    convention = (
        f"Weppner-Huggins, D = 4L²/(πτ)·(ΔEs/ΔEt)² and D = (4/π)·(L·(ΔEs/τ)/(dE/d√t))²; "
        f"model fit of each pulse and its relaxation with the exact solution for "
        f"{MODELS[model]}; L = V/S = {length * 1e4:.4g} µm ({GEOMETRIES[geometry]})."
    )
    return GittResult(tuple(pulses), length, geometry, convention, settings.criteria())


def _judge_linearity(pulses: list[GittPulse], settings: _Settings) -> list[GittPulse]:
    """Each pulse with its dE/dx change over the swept composition, flagged beyond tolerance."""
    changes = linearity_changes(
        [p.charge_Ah for p in pulses],
        [p.current_A * p.tau_s / 3600.0 for p in pulses],
        [p.delta_Es_V for p in pulses],
        [p.delta_Et_V for p in pulses],
        [p.delta_Es_se_V for p in pulses],
        [p.model_valid for p in pulses],  # a neighbour with unrelaxed rests says nothing
    )
    judged: list[GittPulse] = []
    for pulse, (change, error) in zip(pulses, changes, strict=True):
        reasons = list(pulse.reasons)
        if (
            math.isfinite(change)
            and change - LINEARITY_SIGMAS * error > settings.linearity_tolerance
        ):
            reasons.append(
                f"E(x) is not linear over the pulse: dE/dx changes by {change:.0%} "
                f"(± {error:.0%}) over the composition its surface swept"
            )
        judged.append(
            dataclasses.replace(
                pulse, dEdx_change=change, valid=not reasons, reasons=tuple(reasons)
            )
        )
    return judged


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
    t0 = _pulse_start(record, first)
    tau = float(time[last] - t0)
    if tau <= 0:
        return None
    before_start, after_end = around
    tail_fraction = settings.tail_fraction
    before = rest_tail(time[before_start:first], volts[before_start:first], tail_fraction)
    after = rest_tail(
        time[last + 1 : after_end + 1], volts[last + 1 : after_end + 1], tail_fraction
    )
    slope, e2, r2, fit_points = sqrt_fit(time[steady] - t0, volts[steady], tau, settings.fit_window)
    e1 = before.level if before else math.nan
    e4 = after.level if after else math.nan
    e3 = float(volts[steady[-1]])
    delta_s, delta_t = e4 - e1, e3 - e2
    length = settings.length
    with np.errstate(divide="ignore", invalid="ignore"):
        d_wh = 4.0 * length**2 / (math.pi * tau) * (delta_s / delta_t) ** 2
        d_sqrt = 4.0 / math.pi * (length * (delta_s / tau) / slope) ** 2
    fit = _fit(record, (first, last), around, steady, t0, tau, float(d_wh), settings)
    d_model = fit.D_cm2_s if fit else math.nan
    ratio = tau * (d_model if fit else d_wh) / length**2
    noises = [t.noise for t in (before, after) if t and math.isfinite(t.noise)]
    noise = float(np.mean(noises)) if noises else math.nan
    reasons = _reasons(before, after, delta_s, delta_t, level, ratio, r2, settings)
    reasons += _model_reasons(fit, noise, settings)
    bias, agreement = _wh_agreement(float(d_wh), fit, time[steady] - t0, tau, settings)
    reasons += agreement
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
        delta_Es_se_V=_delta_es_se(before, after),
        ir_V=e2 - e1,
        resistance_ohm=(e2 - e1) / level,
        sqrt_slope_V_per_sqrt_s=slope,
        fit_r2=r2,
        fit_points=fit_points,
        D_cm2_s=float(d_wh),
        D_sqrt_cm2_s=float(d_sqrt),
        D_model_cm2_s=d_model,
        model_rmse_V=fit.rmse_V if fit else math.nan,
        wh_bias=bias,
        dEdx_change=math.nan,
        tau_D_over_L2=float(ratio),
        rest_s=after.duration if after else 0.0,
        end_drift_V_per_s=after.drift if after else math.nan,
        noise_V=noise,
        valid=not reasons,
        reasons=tuple(reasons),
    )


def _pulse_start(record: _Record, first: int) -> float:
    """When the pulse starting at sample `first` began: from its step time when logged, else
    at the sample before it (as a cycler logs)."""
    time, step_time = record.time, record.step_time
    if step_time is not None and math.isfinite(step_time[first]):
        return float(time[first] - step_time[first])
    if first > 0:
        return float(time[first - 1])
    return float(time[first] - (time[first + 1] - time[first]))


def _wh_agreement(
    d_wh: float, fit: ModelFit | None, pulse_t: np.ndarray, tau: float, settings: _Settings
) -> tuple[float, list[str]]:
    """Weppner–Huggins' own bias at the fitted D, and a reason when it strays beyond it."""
    if fit is None:
        return math.nan, []
    d_model = fit.D_cm2_s
    bias = weppner_huggins_bias(
        pulse_t, tau, d_model, settings.length, settings.model, settings.fit_window
    )
    expected = d_model * (1.0 + bias)
    if math.isfinite(expected) and abs(d_wh / expected - 1.0) > WH_AGREEMENT:
        return bias, [
            f"{WH_ONLY} D = {d_wh:.3g} is {d_wh / d_model - 1:+.0%} from the fitted "
            f"{d_model:.3g}, where its own bias would be {bias:+.0%}"
        ]
    return bias, []


def _fit(
    record: _Record,
    pulse: tuple[int, int],
    around: tuple[int, int],
    steady: np.ndarray,
    t0: float,
    tau: float,
    d_start: float,
    settings: _Settings,
) -> ModelFit | None:
    """The model fit of one pulse with the rests on either side of it."""
    (first, last), (before_start, after_end) = pulse, around
    indices, in_pulse = transient_samples(
        record.time,
        t0,
        tau,
        np.arange(before_start, first),
        steady,
        np.arange(last + 1, after_end + 1),
        settings.fit_window[0] * tau,
    )
    t = record.time[indices] - t0
    return fit_transient(
        t, record.volts[indices], in_pulse, tau, settings.length, settings.model, d_start
    )


def _delta_es_se(before: Tail | None, after: Tail | None) -> float:
    """Standard error of ΔEs = E4 − E1 from the noise of the two rest tails."""
    tails = [t for t in (before, after) if t and math.isfinite(t.noise)]
    return math.sqrt(sum(t.noise**2 / t.count for t in tails)) if tails else math.nan


def _model_reasons(fit: ModelFit | None, noise: float, settings: _Settings) -> list[str]:
    """Why the model-fitted D cannot be trusted; empty when it can."""
    if fit is None:
        return ["the diffusion model could not be fitted (too few samples, or no D fits)"]
    if math.isfinite(noise) and fit.rmse_V > settings.model_fit_sigmas * noise:
        return [
            f"the {settings.model} diffusion model does not fit: {fit.rmse_V * 1e3:.3g} mV rms "
            f"residual against {noise * 1e3:.2g} mV noise"
        ]
    return []


def _reasons(
    before: Tail | None,
    after: Tail | None,
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
        reasons.append(
            f"{WH_ONLY} τ·D/L² = {ratio:.3g} ≥ {validity_ratio:g}: the pulse is not ≪ L²/D"
        )
    standard_error = _delta_es_se(before, after)
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
        reasons.append(f"{WH_ONLY} E vs √t is not linear (R² = {r2:.4f} < {min_fit_r2:g})")
    return reasons
