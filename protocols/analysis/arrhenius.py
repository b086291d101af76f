"""Arrhenius: an activation energy from Rct(T) or σ(T), with its 95 % confidence interval.

Forms (x is always 1/T in K⁻¹, never 1000/T, so Ea = −R·slope comes out in J/mol):

- "rct":    ln(1/Rct) = ln A − Ea/(R·T)    (charge transfer, from VT-EIS fits)
- "sigma":  ln σ      = ln σ0 − Ea/(R·T)
- "sigmaT": ln(σ·T)   = ln A − Ea/(R·T)    (gives an Ea about R·T̄ larger than "sigma")

The interval is the slope's t-interval with n − 2 degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from protocols.analysis._data import as_float_array, finite, result_dict
from protocols.analysis.errors import AnalysisError

TECHNIQUE = "Arrhenius analysis"
GAS_CONSTANT = 8.314462618  # J/(mol·K)
FARADAY = 96485.33212  # C/mol: 1 eV per particle = 96.485 kJ/mol
KELVIN = 273.15
FORMS = {
    "rct": "ln(1/Rct) vs 1/T (1/T in K⁻¹): Ea = −R·slope",
    "sigma": "ln σ vs 1/T (1/T in K⁻¹): Ea = −R·slope",
    "sigmaT": "ln(σ·T) vs 1/T (1/T in K⁻¹, T in K): Ea = −R·slope",
}
PREFACTOR_UNITS = {"rct": "S (1/Ω)", "sigma": "σ's unit", "sigmaT": "σ's unit × K"}


@dataclass(frozen=True)
class ArrheniusResult:
    form: str
    description: str  # which form, in words
    temperature_degC: tuple[float, ...]
    values: tuple[float, ...]
    inverse_T_per_K: tuple[float, ...]  # x of the fit (1/T, K⁻¹)
    ln_y: tuple[float, ...]  # y of the fit
    slope_K: float  # d ln y / d(1/T), in K
    intercept: float
    Ea_kJ_mol: float
    Ea_eV: float
    confidence: float
    Ea_ci_kJ_mol: tuple[float, float]  # the `confidence` interval (95 % by default)
    Ea_ci_eV: tuple[float, float]
    Ea_sigma_kJ_mol: float
    prefactor: float  # exp(intercept)
    prefactor_unit: str
    r_squared: float
    n: int

    @property
    def slope_per_1000_over_T(self) -> float:
        """The slope against 1000/T (K), for plots drawn on that axis: slope_K / 1000."""
        return self.slope_K / 1000.0

    def predict(self, temperature_degC: Any) -> np.ndarray:
        """The fitted quantity (Rct, σ or σ, not σT) at the given temperatures."""
        t = np.asarray(temperature_degC, dtype=float) + KELVIN
        y = np.exp(self.intercept + self.slope_K / t)
        if self.form == "rct":
            return 1.0 / y
        if self.form == "sigmaT":
            return y / t
        return y

    def as_dict(self) -> dict[str, Any]:
        return {**result_dict(self), "slope_per_1000_over_T": self.slope_per_1000_over_T}


def arrhenius(
    temperature_degC: Any,
    values: Any,
    *,
    form: Literal["rct", "sigma", "sigmaT"] = "rct",
    confidence: float = 0.95,
) -> ArrheniusResult:
    """Fit ln(1/R), ln σ or ln σT against 1/T and return Ea with its confidence interval.

    Temperatures are in °C. Values are Rct in Ω for "rct", or conductivities (any one unit)
    for "sigma" and "sigmaT".
    """
    t_c, y = _checked(temperature_degC, values, form, confidence)
    from scipy import stats  # slow to import; only needed here

    t_k = t_c + KELVIN
    x = 1.0 / t_k
    if form == "rct":
        ln_y = np.log(1.0 / y)
    elif form == "sigma":
        ln_y = np.log(y)
    else:
        ln_y = np.log(y * t_k)
    fit = stats.linregress(x, ln_y)
    n = int(x.size)
    slope, intercept = float(fit.slope), float(fit.intercept)
    se = float(fit.stderr)
    t_crit = float(stats.t.ppf(0.5 + confidence / 2.0, n - 2))
    ea = -GAS_CONSTANT * slope / 1000.0  # kJ/mol
    half = GAS_CONSTANT * t_crit * se / 1000.0
    to_ev = 1000.0 / FARADAY
    return ArrheniusResult(
        form=form,
        description=FORMS[form],
        temperature_degC=tuple(float(v) for v in t_c),
        values=tuple(float(v) for v in y),
        inverse_T_per_K=tuple(float(v) for v in x),
        ln_y=tuple(float(v) for v in ln_y),
        slope_K=slope,
        intercept=intercept,
        Ea_kJ_mol=ea,
        Ea_eV=ea * to_ev,
        confidence=confidence,
        Ea_ci_kJ_mol=(ea - half, ea + half),
        Ea_ci_eV=((ea - half) * to_ev, (ea + half) * to_ev),
        Ea_sigma_kJ_mol=GAS_CONSTANT * se / 1000.0,
        prefactor=math.exp(intercept),
        prefactor_unit=PREFACTOR_UNITS[form],
        r_squared=float(fit.rvalue**2),
        n=n,
    )


def _checked(
    temperature_degC: Any, values: Any, form: str, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """(temperatures in °C, values) as arrays a fit can use, or the one AnalysisError why not."""
    if form not in FORMS:
        raise AnalysisError(TECHNIQUE, "form", f"{form!r} is not one of {', '.join(FORMS)}.")
    t_c = finite(
        as_float_array(temperature_degC, "temperature_degC", TECHNIQUE),
        "temperature_degC",
        TECHNIQUE,
    )
    y = finite(as_float_array(values, "values", TECHNIQUE), "values", TECHNIQUE)
    if t_c.size != y.size:
        raise AnalysisError(
            TECHNIQUE,
            "values",
            f"{y.size} values for {t_c.size} temperatures; give one value per temperature.",
        )
    if t_c.size < 3:
        raise AnalysisError(
            TECHNIQUE, "temperature_degC", "at least 3 temperatures are needed for an interval."
        )
    if np.any(t_c <= -KELVIN):
        raise AnalysisError(TECHNIQUE, "temperature_degC", "a temperature is below 0 K.")
    if t_c.min() > 200.0:
        raise AnalysisError(
            TECHNIQUE,
            "temperature_degC",
            f"temperatures {t_c.min():g}–{t_c.max():g} look like kelvin; pass degrees Celsius.",
        )
    if np.unique(t_c).size < 2:
        raise AnalysisError(
            TECHNIQUE, "temperature_degC", "all values are at one temperature: no slope."
        )
    if np.any(y <= 0):
        raise AnalysisError(TECHNIQUE, "values", "every value must be positive to take its log.")
    if not 0.0 < confidence < 1.0:
        raise AnalysisError(TECHNIQUE, "confidence", "must lie in (0, 1).")
    return t_c, y
