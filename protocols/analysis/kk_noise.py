"""The verdict of a Kramers–Kronig check, judged against the spectrum's own noise.

A fixed ±1 % band rejects clean spectra that are merely noisy (0.5 % noise puts the largest of
~140 residuals past 1 % in a good share of spectra) and passes systematic errors that stay
under it. Here the residuals (relative to |Z|, per component) are compared with the noise σ:

- σ is the instrument's stated relative accuracy when the caller gives it, else the scatter
  of the residuals over the highest 1.5 decades, where a spectrum is flat and smooth, so what
  is left there is noise. σ is never taken below the lin-KK fit's own resolution (0.2 %: its
  ripple at three Voigt elements per decade is ~0.1 %).
- size: no residual beyond SIZE_SIGMAS·σ (white noise reaches that in < 1 % of spectra);
- structure: residuals must not line up. The mean of every run of w consecutive residuals
  (real, imaginary, and both together; w = 3…12) is scaled to its noise, σ/√w; white noise
  keeps the largest of these under STRUCTURE_SIGMAS in ~95 % of spectra, a drift or a ramp
  makes neighbours share a sign and pushes it beyond.

What no residual test can see: a drift that lin-KK's Voigt elements absorb. A 5 % drift of the
charge-transfer resistance during a sweep leaves only ~3σ of residual energy at 0.5 % noise
(71 points over 7 decades), below what any test separates from noise at 95 %/95 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HF_DECADES = 1.5
MIN_SIGMA = 2e-3
SIZE_SIGMAS = 5.0
STRUCTURE_SIGMAS = 4.6
WINDOWS = (3, 4, 6, 8, 12)


@dataclass(frozen=True)
class Verdict:
    """The noise used, the two statistics, and why a spectrum was rejected."""

    noise_rel: float
    noise_source: str
    size_sigmas: float  # largest |residual| / σ
    structure_sigmas: float  # largest run mean / (σ/√w)
    accepted: bool
    reasons: tuple[str, ...]


def noise_of(frequency_Hz: np.ndarray, res_re: np.ndarray, res_im: np.ndarray) -> float:
    """The scatter of the residuals over the spectrum's highest HF_DECADES."""
    top = frequency_Hz >= frequency_Hz.max() / 10**HF_DECADES
    values = np.concatenate([res_re[top], res_im[top]])
    return float(np.sqrt(np.mean(values**2))) if values.size else math.nan


def _structure(res_re: np.ndarray, res_im: np.ndarray, sigma: float) -> float:
    worst = 0.0
    for w in WINDOWS:
        if w > res_re.size:
            break
        kernel = np.ones(w) / w
        for values, spread in ((res_re, 1.0), (res_im, 1.0), (0.5 * (res_re + res_im), 0.5**0.5)):
            means = np.abs(np.convolve(values, kernel, mode="valid"))
            worst = max(worst, float(means.max()) * math.sqrt(w) / (sigma * spread))
    return worst


def judge(
    frequency_Hz: np.ndarray,
    res_re: np.ndarray,
    res_im: np.ndarray,
    noise_rel: float | None = None,
) -> Verdict:
    """Accept or reject lin-KK residuals (ordered by frequency) against the noise."""
    if noise_rel is not None:
        sigma, source = float(noise_rel), "the instrument's stated accuracy"
    else:
        sigma, source = noise_of(frequency_Hz, res_re, res_im), "the high-frequency scatter"
    if not (math.isfinite(sigma) and sigma >= MIN_SIGMA):
        sigma, source = MIN_SIGMA, f"the lin-KK resolution ({source} is below it)"
    size = float(max(np.abs(res_re).max(), np.abs(res_im).max())) / sigma
    structure = _structure(res_re, res_im, sigma)
    reasons: list[str] = []
    if size > SIZE_SIGMAS:
        reasons.append(
            f"a residual of {size * sigma:.2%} is {size:.1f}σ (σ = {sigma:.2%} from {source})"
        )
    if structure > STRUCTURE_SIGMAS:
        reasons.append(
            f"neighbouring residuals line up ({structure:.1f}σ > {STRUCTURE_SIGMAS:g}σ): "
            "a drift or a non-linear response, not noise"
        )
    return Verdict(sigma, source, size, structure, not reasons, tuple(reasons))
