"""GITT by fitting each pulse and its relaxation with the exact diffusion solution.

Weppner–Huggins reads D from two voltage differences and assumes τ ≪ L²/D; on a sphere at the
τ·D/L² of a practical GITT (0.02–0.07) that assumption alone costs 10–25 % of D. Fitting the
whole transient with the exact solution has no such bias. With a linear E(x) over the pulse,

    E(t) = E0 + R·I·[t in the pulse] + A·(g(t) − g(t − τ)),

where g is the surface-composition response to a unit flux step (Δθ_surface = u·g(t), u the
flux in mean-composition per second), A = dE/dθ·u (so E4 − E1 = A·τ), and D enters only
through g. For each D the three linear parameters follow by least squares; D is found by a
one-dimensional search in log D. The samples fitted are the tail of the rest before the pulse,
the pulse past its IR and double-layer transient, and the relaxation after it.

Diffusion-length convention: L = V/S, as in Weppner–Huggins. The sphere has radius a = 3L
(V/S of a sphere is a/3); the slab has thickness L with the flux through one face:

- sphere, t' = Dt/a²: g = a²/(3D)·(erfcx(−√t') − 1) for t' < 0.02 (exact to e^(−2/√t'));
  else a²/(3D)·(3t' + 1/5 − 2 Σ exp(−α_n² t')/α_n²), tan α_n = α_n (Crank, eq. 6.49);
- slab, t' = Dt/L²: g = L²/D·2√(t'/π) for t' < 0.05; else L²/D·(t' + 1/3 − 2/π² Σ
  exp(−n²π² t')/n²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import erfcx

Model = Literal["sphere", "planar"]
MODELS: dict[str, str] = {
    "sphere": "spheres of radius 3L (V/S = L)",
    "planar": "a slab of thickness L (V/S = L), flux through one face",
}
SERIES_TERMS = 80
SPHERE_SHORT = 0.02  # t' below which the short-time form is used (sphere)
PLANAR_SHORT = 0.05
SEARCH_DECADES = 2.0  # the D search spans this many decades either side of its start
GRID_POINTS = 33


@cache
def _sphere_roots(n: int = SERIES_TERMS) -> np.ndarray:
    """The first n positive roots of tan α = α."""
    roots = [
        brentq(lambda a: math.sin(a) - a * math.cos(a), k * math.pi + 1e-9, (k + 0.5) * math.pi)
        for k in range(1, n + 1)
    ]
    return np.asarray(roots)


def response_s(t: np.ndarray, d_cm2_s: float, length_cm: float, model: Model) -> np.ndarray:
    """g(t) in seconds: Δθ_surface per unit flux u after a flux step at t = 0 (0 before)."""
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    if model == "sphere":
        a2 = (3.0 * length_cm) ** 2
        tp = d_cm2_s * t / a2
        scale = a2 / (3.0 * d_cm2_s)
        alpha2 = _sphere_roots() ** 2
        short = tp < SPHERE_SHORT
        out = np.empty_like(tp)
        out[short] = erfcx(-np.sqrt(tp[short])) - 1.0
        long_t = tp[~short][:, None]
        out[~short] = (
            3.0 * long_t[:, 0] + 0.2 - 2.0 * np.sum(np.exp(-alpha2 * long_t) / alpha2, axis=1)
        )
        return scale * out
    l2 = length_cm**2
    tp = d_cm2_s * t / l2
    n2 = np.arange(1, SERIES_TERMS + 1, dtype=float) ** 2
    short = tp < PLANAR_SHORT
    out = np.empty_like(tp)
    out[short] = 2.0 * np.sqrt(tp[short] / math.pi)
    long_t = tp[~short][:, None]
    series = np.sum(np.exp(-n2 * math.pi**2 * long_t) / n2, axis=1)
    out[~short] = long_t[:, 0] + 1.0 / 3.0 - 2.0 / math.pi**2 * series
    return (l2 / d_cm2_s) * out


def pulse_response_s(
    t: np.ndarray, tau_s: float, d_cm2_s: float, length_cm: float, model: Model
) -> np.ndarray:
    """g(t) − g(t − τ): a pulse of length τ starting at t = 0."""
    t = np.asarray(t, dtype=float)
    later = response_s(t - tau_s, d_cm2_s, length_cm, model)
    return response_s(t, d_cm2_s, length_cm, model) - np.where(t > tau_s, later, 0.0)


@dataclass(frozen=True)
class ModelFit:
    """The fitted D (cm²/s), the linear parameters, and how well the transient was fitted."""

    D_cm2_s: float
    E0_V: float
    A_V_per_s: float  # dE/dθ·u: the relaxed voltage moves A·τ over the pulse
    pulse_offset_V: float  # R·I while the current flows
    rmse_V: float
    points: int


def _linear(
    t: np.ndarray, v: np.ndarray, on: np.ndarray, tau: float, d: float, length: float, m: Model
) -> tuple[np.ndarray, float]:
    design = np.column_stack(
        (np.ones_like(t), pulse_response_s(t, tau, d, length, m), on.astype(float))
    )
    coeff, *_ = np.linalg.lstsq(design, v, rcond=None)
    residual = v - design @ coeff
    return coeff, float(np.sum(residual**2))


def fit_transient(
    t: np.ndarray,
    volts: np.ndarray,
    in_pulse: np.ndarray,
    tau_s: float,
    length_cm: float,
    model: Model,
    d_start: float,
) -> ModelFit | None:
    """Fit E0, R·I, A and D to samples at times t (s from the pulse start); None when there
    are too few samples or no D makes the model fit."""
    if t.size < 8 or in_pulse.sum() < 3 or (~in_pulse & (t > tau_s)).sum() < 3:
        return None
    start = d_start if math.isfinite(d_start) and d_start > 0 else 1e-9
    centre = math.log10(start)
    grid = np.linspace(centre - SEARCH_DECADES, centre + SEARCH_DECADES, GRID_POINTS)

    def cost(log_d: float) -> float:
        return _linear(t, volts, in_pulse, tau_s, 10.0**log_d, length_cm, model)[1]

    costs = [cost(x) for x in grid]
    best = int(np.argmin(costs))
    if best in (0, GRID_POINTS - 1):
        return None  # no minimum inside the search: the data do not look like diffusion
    step = grid[1] - grid[0]
    found = minimize_scalar(
        cost,
        bounds=(grid[best] - step, grid[best] + step),
        method="bounded",
        options={"xatol": 1e-5},
    )
    d = 10.0 ** float(found.x)
    coeff, rss = _linear(t, volts, in_pulse, tau_s, d, length_cm, model)
    return ModelFit(
        D_cm2_s=d,
        E0_V=float(coeff[0]),
        A_V_per_s=float(coeff[1]),
        pulse_offset_V=float(coeff[2]),
        rmse_V=math.sqrt(rss / t.size),
        points=int(t.size),
    )


def weppner_huggins_bias(
    pulse_t: np.ndarray,
    tau_s: float,
    d_cm2_s: float,
    length_cm: float,
    model: Model,
    fit_window: tuple[float, float],
) -> float:
    """How far Weppner–Huggins (ΔEt from the √t intercept over `fit_window`, at the pulse's own
    sample times) reads a diffusion-only transient with this D: D_WH/D − 1."""
    chosen = (pulse_t >= fit_window[0] * tau_s) & (pulse_t <= fit_window[1] * tau_s * (1 + 1e-9))
    if chosen.sum() < 3:
        return math.nan
    x = np.sqrt(pulse_t[chosen])
    g = response_s(pulse_t[chosen], d_cm2_s, length_cm, model)
    _, intercept = np.polyfit(x, g, 1)
    delta_t = float(response_s(np.array([tau_s]), d_cm2_s, length_cm, model)[0] - intercept)
    if not delta_t > 0:
        return math.nan
    d_wh = 4.0 * length_cm**2 / (math.pi * tau_s) * (tau_s / delta_t) ** 2
    return d_wh / d_cm2_s - 1.0


MAX_RELAX_POINTS = 400
MAX_REST_POINTS = 100


def _thin(indices: np.ndarray, times: np.ndarray, most: int, log: bool) -> np.ndarray:
    """At most `most` of `indices`, spread evenly (in log time from the first when `log`)."""
    if indices.size <= most:
        return indices
    t = times[indices] - times[indices[0]] + (1.0 if log else 0.0)
    axis = np.log(t) if log else t
    targets = np.linspace(axis[0], axis[-1], most)
    picked = np.unique(np.searchsorted(axis, targets).clip(0, indices.size - 1))
    return indices[picked]


def transient_samples(
    time: np.ndarray,
    t0: float,
    tau: float,
    before: np.ndarray,
    steady: np.ndarray,
    after: np.ndarray,
    skip: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The sample indices a transient fit uses, and which of them are in the pulse: the tail
    of the rest before (its last tenth), the steady pulse from `skip` (s) on, and the rest
    after from `skip` past the pulse's end, thinned to a few hundred points."""
    rest_before = (
        before[time[before] >= time[before[-1]] - 0.1 * np.ptp(time[before])]
        if (before.size)
        else before
    )
    pulse = steady[time[steady] - t0 >= skip]
    relax = after[time[after] - t0 - tau >= skip] if after.size else after
    chosen = [
        _thin(rest_before, time, MAX_REST_POINTS, log=False),
        pulse,
        _thin(relax, time, MAX_RELAX_POINTS, log=True) if relax.size else relax,
    ]
    indices = np.concatenate(chosen).astype(int)
    in_pulse = np.concatenate(
        [np.zeros(chosen[0].size, bool), np.ones(pulse.size, bool), np.zeros(chosen[2].size, bool)]
    )
    return indices, in_pulse


def linearity_changes(
    charge_end: list[float],
    charge: list[float],
    delta_s: list[float],
    delta_t: list[float],
    delta_s_se: list[float],
    usable: list[bool],
) -> list[tuple[float, float]]:
    """For each pulse, how much dE/dx changes (relative) over the composition its surface
    swept, from the slopes of its neighbours' relaxed voltages, and the standard error of
    that change from the ΔEs standard errors; NaN without a neighbour.

    A pulse's relaxed slope is s = ΔEs/Δq over its charge Δq; its surface sweeps
    |Δq·ΔEt/ΔEs| (the surface moves ΔEt while the mean moves ΔEs). A neighbour is the pulse
    before or after it in the same direction with only a rest between them, whose own
    relaxed voltages can be trusted (`usable`)."""
    n = len(charge)
    slopes = [ds / dq if dq else math.nan for ds, dq in zip(delta_s, charge, strict=True)]
    mids = [q - dq / 2 for q, dq in zip(charge_end, charge, strict=True)]

    def adjacent(k: int, j: int) -> bool:
        if not (0 <= j < n) or charge[j] * charge[k] <= 0 or not usable[j]:
            return False
        first, second = (k, j) if j > k else (j, k)
        start_of_second = charge_end[second] - charge[second]
        return abs(start_of_second - charge_end[first]) <= 0.5 * abs(charge[first])

    errors = [abs(se / dq) if dq else math.nan for se, dq in zip(delta_s_se, charge, strict=True)]
    changes: list[tuple[float, float]] = []
    for k in range(n):
        ends = [j for j in (k - 1, k + 1) if adjacent(k, j)]
        if not ends or not math.isfinite(slopes[k]) or slopes[k] == 0:
            changes.append((math.nan, math.nan))
            continue
        lo, hi = (ends[0], ends[-1]) if len(ends) == 2 else (min(k, ends[0]), max(k, ends[0]))
        scale = (abs(charge[k] * delta_t[k] / delta_s[k]) if delta_s[k] else math.inf) / abs(
            slopes[k] * (mids[hi] - mids[lo])
        )
        change = abs(slopes[hi] - slopes[lo]) * scale
        changes.append((change, math.hypot(errors[hi], errors[lo]) * scale))
    return changes
