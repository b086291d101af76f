"""EIS: equivalent-circuit fit (impedance.py) with Rct and its uncertainty, and a lin-KK check.

The default circuit is the Randles form with an interphase arc in front,

    R0-p(R1,CPE1)-p(R2-W1,CPE2)

i.e. Rs + (R_film‖CPE) + CPE_dl‖(Rct + Warburg): charge transfer in series with the diffusion
it feeds, both shunted by the double layer. Initial guesses come from the spectrum's shape (the
high-frequency intercept, the apex of each arc and the low-frequency tail), and the fit is
weighted by |Z| so a small high-frequency arc counts as much as a large one.

Rct is the resistor of the arc whose resistive branch holds the diffusion element, when the
circuit has one (the Randles topology says which arc feeds diffusion); otherwise it is the arc
with the lowest characteristic frequency f_c = 1/(2π(R·Q)^(1/α)), the slowest interfacial
process, as in the usual assignment (SE/interphase arcs at 10⁵–10⁶ Hz, charge transfer at
10⁰–10³ Hz with µF–mF). Each arc's effective capacitance follows Brug:
C_eff = Q^(1/α)·R^((1−α)/α).

`kramers_kronig` is lin-KK (Schönleber et al., Electrochim. Acta 131 (2014) 20): Voigt elements
with fixed, log-spaced time constants fitted by linear least squares, more of them until
μ = 1 − Σ|R_k<0|/Σ|R_k≥0| falls below 0.85; the residuals, relative to |Z|, are judged against
the spectrum's noise by size and by structure (`kk_noise`).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.analysis._data import as_float_array, finite
from protocols.analysis.errors import AnalysisError
from protocols.analysis.kk_noise import SIZE_SIGMAS, judge

TECHNIQUE = "EIS fit"
KK_TECHNIQUE = "Kramers-Kronig check"
DEFAULT_CIRCUIT = "R0-p(R1,CPE1)-p(R2-W1,CPE2)"
DIFFUSION_ELEMENTS = ("W", "Wo", "Ws", "G", "Gs")
CAPACITIVE_ELEMENTS = ("CPE", "C")


@dataclass(frozen=True)
class Arc:
    """One resistor shunted by a capacitor or CPE: its size, capacitance and frequency."""

    resistor: str
    capacitor: str
    R_ohm: float
    R_sigma_ohm: float
    Q: float  # F for a capacitor; F·s^(α−1) (Ω⁻¹·s^α) for a CPE
    alpha: float
    C_eff_F: float
    f_c_Hz: float
    feeds_diffusion: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class EisFit:
    """Fitted parameters with 1σ uncertainties, fit quality, the arcs and which one is Rct."""

    circuit: str
    parameter_names: tuple[str, ...]
    parameter_units: tuple[str, ...]
    parameters: tuple[float, ...]
    sigmas: tuple[float, ...]
    chi_square: float  # Σ(ΔRe² + ΔIm²)/|Z|² over the points
    reduced_chi_square: float  # chi_square / (2N − p)
    rmse_ohm: float
    max_relative_residual: float
    arcs: tuple[Arc, ...]
    Rs_ohm: float | None
    Rs_sigma_ohm: float | None
    Rct_ohm: float | None
    Rct_sigma_ohm: float | None
    rct_element: str | None
    rct_rule: str
    frequency_Hz: tuple[float, ...] = field(repr=False)
    z_fit_real: tuple[float, ...] = field(repr=False)
    z_fit_imag: tuple[float, ...] = field(repr=False)

    def parameter(self, name: str) -> float:
        """A fitted parameter by its impedance.py name (e.g. "R2", "CPE2_1")."""
        return self.parameters[self.parameter_names.index(name)]

    def sigma(self, name: str) -> float:
        return self.sigmas[self.parameter_names.index(name)]

    def z_fit(self) -> np.ndarray:
        return np.asarray(self.z_fit_real) + 1j * np.asarray(self.z_fit_imag)

    def as_dict(self) -> dict[str, Any]:
        return {
            "circuit": self.circuit,
            "parameters": {
                name: {"value": value, "sigma": sigma, "unit": unit}
                for name, value, sigma, unit in zip(
                    self.parameter_names,
                    self.parameters,
                    self.sigmas,
                    self.parameter_units,
                    strict=True,
                )
            },
            "chi_square": self.chi_square,
            "reduced_chi_square": self.reduced_chi_square,
            "rmse_ohm": self.rmse_ohm,
            "max_relative_residual": self.max_relative_residual,
            "arcs": [arc.as_dict() for arc in self.arcs],
            "Rs_ohm": self.Rs_ohm,
            "Rs_sigma_ohm": self.Rs_sigma_ohm,
            "Rct_ohm": self.Rct_ohm,
            "Rct_sigma_ohm": self.Rct_sigma_ohm,
            "rct_element": self.rct_element,
            "rct_rule": self.rct_rule,
            "frequency_Hz": list(self.frequency_Hz),
            "z_fit_real": list(self.z_fit_real),
            "z_fit_imag": list(self.z_fit_imag),
        }


@dataclass(frozen=True)
class KKResult:
    """lin-KK outcome: number of Voigt elements, μ, residuals relative to |Z|, verdict."""

    frequency_Hz: tuple[float, ...] = field(repr=False)  # high to low, as the residuals
    M: int
    mu: float
    mu_reached: bool
    residuals_real: tuple[float, ...]
    residuals_imag: tuple[float, ...]
    max_residual: float
    tolerance: float  # the largest residual the noise allows
    accepted: bool
    z_fit_real: tuple[float, ...] = field(repr=False)
    z_fit_imag: tuple[float, ...] = field(repr=False)
    noise_rel: float = math.nan  # σ of the residuals per component, relative to |Z|
    noise_source: str = ""
    structure_sigmas: float = math.nan  # how far neighbouring residuals line up, in σ
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in (
            "frequency_Hz",
            "residuals_real",
            "residuals_imag",
            "z_fit_real",
            "z_fit_imag",
            "reasons",
        ):
            data[key] = list(data[key])
        return data


# --- input ---------------------------------------------------------------------------------
def _spectrum(
    frequency_Hz: Any, z_real: Any, z_imag: Any, technique: str
) -> tuple[np.ndarray, np.ndarray]:
    f = finite(as_float_array(frequency_Hz, "frequency_Hz", technique), "frequency_Hz", technique)
    re_ = finite(as_float_array(z_real, "z_real", technique), "z_real", technique)
    im_ = finite(as_float_array(z_imag, "z_imag", technique), "z_imag", technique)
    if not (f.size == re_.size == im_.size):
        raise AnalysisError(
            technique,
            "spectrum",
            f"frequency ({f.size}), Re Z ({re_.size}) and Im Z ({im_.size}) differ in length.",
        )
    if f.size < 5:
        raise AnalysisError(technique, "frequency_Hz", "at least 5 frequencies are needed.")
    if np.any(f <= 0):
        raise AnalysisError(technique, "frequency_Hz", "frequencies must be positive.")
    order = np.argsort(f)[::-1]
    z = re_[order] + 1j * im_[order]
    if np.mean(z.imag > 0) > 0.5:
        raise AnalysisError(
            technique,
            "z_imag",
            "most of Im Z is positive: pass Im Z itself (negative for a capacitive cell), "
            "not −Im Z as some instruments export it.",
        )
    return f[order], z


# --- circuit structure ---------------------------------------------------------------------
def _element_kind(name: str) -> str:
    return re.match(r"[A-Za-z]+", name).group(0)  # type: ignore[union-attr]


def _parallel_groups(circuit: str) -> list[list[list[str]]]:
    """Innermost p(...) groups as branches of element names."""
    groups = []
    for inner in re.findall(r"p\(([^()]*)\)", circuit.replace(" ", "")):
        branches = [re.findall(r"[A-Za-z]+_?\d+", branch) for branch in inner.split(",")]
        groups.append(branches)
    return groups


def _arcs_of(circuit: str) -> list[tuple[str, str, bool]]:
    """(resistor, capacitor, feeds_diffusion) for each resistor‖capacitor-like group."""
    arcs = []
    for branches in _parallel_groups(circuit):
        capacitor = next(
            (b[0] for b in branches if len(b) == 1 and _element_kind(b[0]) in CAPACITIVE_ELEMENTS),
            None,
        )
        for branch in branches:
            resistors = [e for e in branch if _element_kind(e) == "R"]
            if capacitor and resistors:
                feeds = any(_element_kind(e) in DIFFUSION_ELEMENTS for e in branch)
                arcs.append((resistors[0], capacitor, feeds))
                break
    return arcs


def _series_resistor(circuit: str) -> str | None:
    """The first resistor outside every parallel group: the ohmic resistance Rs."""
    depth = 0
    outside = []
    text = circuit.replace(" ", "")
    for token in re.findall(r"p\(|\(|\)|[A-Za-z]+_?\d+|[-,]", text):
        if token in ("p(", "("):
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and re.fullmatch(r"[A-Za-z]+_?\d+", token):
            outside.append(token)
    return next((e for e in outside if _element_kind(e) == "R"), None)


def _circuit_parameters(circuit: str) -> tuple[list[str], list[str]]:
    """Parameter names and units of a circuit string, as impedance.py orders them."""
    from impedance.models.circuits import elements as library
    from impedance.models.circuits.fitting import extract_circuit_elements

    try:
        elements = extract_circuit_elements(circuit)
        names: list[str] = []
        units: list[str] = []
        for element in elements:
            func = getattr(library, library.get_element_from_name(element), None)
            if func is None or not hasattr(func, "num_params"):
                raise ValueError(f"unknown element {element!r}")
            if func.num_params == 1:
                names.append(element)
                units.append(func.units[0])
            else:
                names.extend(f"{element}_{k}" for k in range(func.num_params))
                units.extend(func.units)
    except Exception as exc:  # impedance.py raises bare errors on bad strings
        raise AnalysisError(
            TECHNIQUE, "circuit", f"{circuit!r} is not a valid circuit string ({exc})."
        ) from None
    return names, units


# --- initial guesses from the spectrum's shape ------------------------------------------------
def _arc_apexes(f: np.ndarray, z: np.ndarray) -> list[tuple[float, float]]:
    """(frequency, −Im) at local maxima of −Im Z, high frequency first."""
    y = -z.imag
    if y.size >= 5:
        y = np.convolve(np.pad(y, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
    peaks = [
        (float(f[k]), float(y[k]))
        for k in range(1, y.size - 1)
        if y[k] > 0 and y[k] >= y[k - 1] and y[k] > y[k + 1]
    ]
    return peaks


def _initial_guess(circuit: str, f: np.ndarray, z: np.ndarray, names: list[str]) -> list[float]:
    """A starting point for every parameter, read off the spectrum."""
    r0 = max(float(z.real[0]), 1e-6 * float(np.abs(z).max()))
    span = max(float(z.real.max()) - r0, 1e-3 * r0)
    arcs = _arcs_of(circuit)
    apexes = sorted(_arc_apexes(f, z), key=lambda p: -p[1])[: len(arcs)]
    apexes.sort(key=lambda p: -p[0])
    while len(apexes) < len(arcs):  # arcs merged: spread the rest a decade apart
        last_f = apexes[-1][0] / 30.0 if apexes else float(np.sqrt(f[0] * f[-1]))
        apexes.append((last_f, 0.1 * span))
    guesses: dict[str, float] = {}
    for (resistor, capacitor, _), (f_apex, height) in zip(arcs, apexes, strict=False):
        r = max(2.0 * height, 1e-3 * span)
        guesses[resistor] = r
        c = 1.0 / (2.0 * math.pi * f_apex * r)
        if _element_kind(capacitor) == "CPE":
            guesses[f"{capacitor}_0"] = c
            guesses[f"{capacitor}_1"] = 1.0
        else:
            guesses[capacitor] = c
    omega_low = 2.0 * math.pi * float(f[-1])
    tail = max(float(-z.imag[-1]) * math.sqrt(omega_low), 1e-3 * span * math.sqrt(omega_low))
    series = _series_resistor(circuit)
    out = []
    for name in names:
        element = name.split("_")[0]
        kind = _element_kind(element)
        if name in guesses:
            out.append(guesses[name])
        elif name == series:
            out.append(r0)
        elif kind == "R":
            out.append(0.1 * span)
        elif kind == "W":
            out.append(tail)
        elif kind in ("Wo", "Ws", "G"):
            out.append(0.5 * span if name.endswith("_0") else 1.0 / omega_low)
        elif kind == "C":
            out.append(1.0 / (2.0 * math.pi * math.sqrt(f[0] * f[-1]) * span))
        elif kind == "CPE":
            out.append(0.9 if name.endswith("_1") else 1.0 / (2.0 * math.pi * f[-1] * span))
        elif kind == "L":
            out.append(1e-7)
        else:
            raise AnalysisError(
                TECHNIQUE,
                "initial_guess",
                f"no automatic initial guess for element {element!r}; pass initial_guess.",
            )
    return out


# --- fit -----------------------------------------------------------------------------------------
def _vary(name: str, guess: float, factor: float) -> float:
    """A second starting point: CPE exponents at 0.85, capacitances scaled by `factor`."""
    if _element_kind(name.split("_")[0]) == "CPE" and name.endswith("_1"):
        return 0.85
    return guess * factor if _is_capacitance(name) else guess


def _is_capacitance(name: str) -> bool:
    """A C value or a CPE's Q (not its exponent)."""
    return _element_kind(name.split("_")[0]) in CAPACITIVE_ELEMENTS and not name.endswith("_1")


def _brug(r: float, q: float, alpha: float) -> tuple[float, float]:
    """(C_eff, f_c) of an R‖CPE arc."""
    if not (r > 0 and q > 0 and alpha > 0):
        return math.nan, math.nan
    c_eff = q ** (1.0 / alpha) * r ** ((1.0 - alpha) / alpha)
    f_c = 1.0 / (2.0 * math.pi * (r * q) ** (1.0 / alpha))
    return c_eff, f_c


def _fit_once(
    circuit: str, f: np.ndarray, z: np.ndarray, guess: list[float]
) -> tuple[Any, float] | None:
    from impedance.models.circuits import CustomCircuit

    model = CustomCircuit(circuit, initial_guess=list(guess))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(f, z, weight_by_modulus=True, maxfev=20000, x_scale="jac")
    except (RuntimeError, ValueError, np.linalg.LinAlgError):
        return None
    z_fit = model.predict(f)
    chi = float(np.sum(np.abs(z_fit - z) ** 2 / np.abs(z) ** 2))
    return model, chi


def fit_spectrum(
    frequency_Hz: Any,
    z_real: Any,
    z_imag: Any,
    *,
    circuit: str | None = None,
    initial_guess: list[float] | None = None,
) -> EisFit:
    """Fit an equivalent circuit (default `DEFAULT_CIRCUIT`) and report Rct with its 1σ.

    Im Z is the impedance's own imaginary part (negative for a capacitive cell). Without an
    initial guess the fit starts from the spectrum's shape and from a few variations of it,
    and keeps the best.
    """
    f, z = _spectrum(frequency_Hz, z_real, z_imag, TECHNIQUE)
    circuit = (circuit or DEFAULT_CIRCUIT).replace(" ", "")
    names, units = _circuit_parameters(circuit)
    starts = _starts(circuit, names, f, z, initial_guess)
    best: tuple[Any, float] | None = None
    for guess in starts:
        outcome = _fit_once(circuit, f, z, guess)
        if outcome and (best is None or outcome[1] < best[1]):
            best = outcome
        if best and best[1] / f.size < 1e-4:  # residuals at the 1 % level: good enough
            break
    if best is None:
        raise AnalysisError(
            TECHNIQUE, "spectrum", f"the circuit {circuit} could not be fitted to this spectrum."
        )
    return _fit_result(circuit, names, units, f, z, *best)


def _starts(
    circuit: str, names: list[str], f: np.ndarray, z: np.ndarray, initial_guess: list[float] | None
) -> list[list[float]]:
    """Starting points: the given guess, or the spectrum's shape and two variations of it."""
    if initial_guess is not None:
        if len(initial_guess) != len(names):
            raise AnalysisError(
                TECHNIQUE,
                "initial_guess",
                f"has {len(initial_guess)} values but {circuit} has {len(names)} parameters "
                f"({', '.join(names)}).",
            )
        return [list(map(float, initial_guess))]
    base = _initial_guess(circuit, f, z, names)
    starts = [base]
    for factor in (0.3, 3.0):  # depressed arcs, with the capacitances shifted
        starts.append([_vary(n, g, factor) for n, g in zip(names, base, strict=True)])
    return starts


def _fit_result(
    circuit: str,
    names: list[str],
    units: list[str],
    f: np.ndarray,
    z: np.ndarray,
    model: Any,
    chi: float,
) -> EisFit:
    """The fitted model as an EisFit: parameters with 1σ, arcs, Rs and the Rct assignment."""
    values = np.asarray(model.parameters_, dtype=float)
    sigmas = (
        np.asarray(model.conf_, dtype=float)
        if getattr(model, "conf_", None) is not None
        else np.full(values.shape, math.nan)
    )
    z_fit = model.predict(f)
    dof = max(1, 2 * f.size - values.size)
    residual = np.concatenate([(z_fit - z).real, (z_fit - z).imag]) / np.concatenate(
        [np.abs(z), np.abs(z)]
    )
    lookup = dict(zip(names, values, strict=True))
    sigma_of = dict(zip(names, sigmas, strict=True))
    arcs = []
    for resistor, capacitor, feeds in _arcs_of(circuit):
        r = lookup[resistor]
        if _element_kind(capacitor) == "CPE":
            q, alpha = lookup[f"{capacitor}_0"], lookup[f"{capacitor}_1"]
        else:
            q, alpha = lookup[capacitor], 1.0
        c_eff, f_c = _brug(r, q, alpha)
        arcs.append(Arc(resistor, capacitor, r, sigma_of[resistor], q, alpha, c_eff, f_c, feeds))
    rct_arc, rule = _charge_transfer(arcs)
    series = _series_resistor(circuit)
    return EisFit(
        circuit=circuit,
        parameter_names=tuple(names),
        parameter_units=tuple(units),
        parameters=tuple(float(v) for v in values),
        sigmas=tuple(float(s) for s in sigmas),
        chi_square=chi,
        reduced_chi_square=chi / dof,
        rmse_ohm=float(np.sqrt(np.mean(np.abs(z_fit - z) ** 2))),
        max_relative_residual=float(np.max(np.abs(residual))),
        arcs=tuple(arcs),
        Rs_ohm=float(lookup[series]) if series else None,
        Rs_sigma_ohm=float(sigma_of[series]) if series else None,
        Rct_ohm=rct_arc.R_ohm if rct_arc else None,
        Rct_sigma_ohm=rct_arc.R_sigma_ohm if rct_arc else None,
        rct_element=rct_arc.resistor if rct_arc else None,
        rct_rule=rule,
        frequency_Hz=tuple(float(x) for x in f),
        z_fit_real=tuple(float(x) for x in z_fit.real),
        z_fit_imag=tuple(float(x) for x in z_fit.imag),
    )


def _charge_transfer(arcs: list[Arc]) -> tuple[Arc | None, str]:
    if not arcs:
        return None, "the circuit has no resistor‖capacitor arc, so no Rct was assigned"
    feeding = [a for a in arcs if a.feeds_diffusion]
    if feeding:
        arc = feeding[0]
        return arc, (
            f"Rct = {arc.resistor}: its branch holds the diffusion element (Randles topology); "
            f"f_c = {arc.f_c_Hz:.3g} Hz, C_eff = {arc.C_eff_F:.3g} F"
        )
    timed = [a for a in arcs if math.isfinite(a.f_c_Hz)]
    if not timed:
        return None, "no arc has a finite characteristic frequency, so no Rct was assigned"
    arc = min(timed, key=lambda a: a.f_c_Hz)
    return arc, (
        f"Rct = {arc.resistor}: the arc with the lowest characteristic frequency "
        f"(f_c = {arc.f_c_Hz:.3g} Hz, C_eff = {arc.C_eff_F:.3g} F)"
    )


# --- lin-KK --------------------------------------------------------------------------------------
# Our own lin-KK rather than impedance.py's `validation.linKK`: on numpy 2 that function fails
# with "NameError: name 'np' is not defined" (impedance 1.7.1). It builds a circuit string from
# the fitted values and `eval`s it, and numpy 2 prints scalars as `np.float64(1.0)` (NEP 51),
# a name the eval namespace does not have. The method is small and linear, so it lives here.
def _kk_matrix(
    omega: np.ndarray, taus: np.ndarray, inductance: bool, capacitance: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary design matrices: [R_inf, R_1..R_M, (L), (1/C)]."""
    wt = omega[:, None] * taus[None, :]
    denom = 1.0 + wt**2
    real = [np.ones((omega.size, 1)), 1.0 / denom]
    imag = [np.zeros((omega.size, 1)), -wt / denom]
    if inductance:
        real.append(np.zeros((omega.size, 1)))
        imag.append(omega[:, None])
    if capacitance:
        real.append(np.zeros((omega.size, 1)))
        imag.append(-1.0 / omega[:, None])
    return np.hstack(real), np.hstack(imag)


def kramers_kronig(
    frequency_Hz: Any,
    z: Any,
    *,
    c: float = 0.85,
    max_M: int = 50,
    min_per_decade: float = 3.0,
    noise_rel: float | None = None,
    add_inductance: bool = True,
    add_capacitance: bool = True,
) -> KKResult:
    """lin-KK test of a complex spectrum, judged against its noise (`kk_noise.judge`):
    `noise_rel` is the instrument's relative accuracy per component, when known.

    M starts at `min_per_decade` Voigt elements per decade of the measured span (fewer leave
    a ripple of several per cent in the fit of any smooth spectrum, and an early, spurious
    μ < c would stop there) and grows until μ < c or `max_M`.
    """
    try:
        z_complex = np.asarray(z, dtype=complex)
    except (TypeError, ValueError):
        raise AnalysisError(KK_TECHNIQUE, "z", "the impedances are not numbers.") from None
    if z_complex.ndim != 1:
        raise AnalysisError(KK_TECHNIQUE, "z", "expected a 1-D array of complex impedances.")
    f, zs = _spectrum(frequency_Hz, z_complex.real, z_complex.imag, KK_TECHNIQUE)
    if not 0.0 < c < 1.0:
        raise AnalysisError(KK_TECHNIQUE, "c", "the μ cut-off must lie in (0, 1).")
    omega = 2.0 * math.pi * f
    weight = 1.0 / np.abs(zs)
    tau_min, tau_max = 1.0 / omega.max(), 1.0 / omega.min()
    max_M = max(1, min(max_M, f.size - 3))
    decades = math.log10(f.max() / f.min())
    min_M = min(max_M, max(1, math.ceil(min_per_decade * decades)))
    chosen = None
    for m in range(min_M, max_M + 1):
        if m > 1:
            taus = np.geomspace(tau_min, tau_max, m)
        else:
            taus = np.array([math.sqrt(tau_min * tau_max)])
        a_re, a_im = _kk_matrix(omega, taus, add_inductance, add_capacitance)
        design = np.vstack([a_re * weight[:, None], a_im * weight[:, None]])
        target = np.concatenate([zs.real * weight, zs.imag * weight])
        coeffs, *_ = np.linalg.lstsq(design, target, rcond=None)
        r_k = coeffs[1 : 1 + m]
        positive = float(np.sum(np.abs(r_k[r_k >= 0])))
        negative = float(np.sum(np.abs(r_k[r_k < 0])))
        mu = 1.0 - negative / positive if positive > 0 else 0.0
        chosen = (m, mu, a_re @ coeffs + 1j * (a_im @ coeffs))
        if mu < c:
            break
    assert chosen is not None
    m, mu, z_fit = chosen
    res_re = (zs.real - z_fit.real) / np.abs(zs)
    res_im = (zs.imag - z_fit.imag) / np.abs(zs)
    worst = float(max(np.abs(res_re).max(), np.abs(res_im).max()))
    verdict = judge(f, res_re, res_im, noise_rel)
    return KKResult(
        frequency_Hz=tuple(float(x) for x in f),
        M=m,
        mu=float(mu),
        mu_reached=bool(mu < c),
        residuals_real=tuple(float(x) for x in res_re),
        residuals_imag=tuple(float(x) for x in res_im),
        max_residual=worst,
        tolerance=SIZE_SIGMAS * verdict.noise_rel,
        accepted=verdict.accepted,
        z_fit_real=tuple(float(x) for x in z_fit.real),
        z_fit_imag=tuple(float(x) for x in z_fit.imag),
        noise_rel=verdict.noise_rel,
        noise_source=verdict.noise_source,
        structure_sigmas=verdict.structure_sigmas,
        reasons=verdict.reasons,
    )
