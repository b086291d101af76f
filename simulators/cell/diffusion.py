"""Solid-state diffusion in a sphere, integrated exactly for piecewise-constant current.

The sphere is cut into finite-volume shells whose width shrinks geometrically toward the surface,
so the first seconds of a pulse (the √t regime a GITT analysis fits) are resolved. The linear
system dθ/dt = (D/R²)·A·θ + b·u is diagonalised once (a generalised symmetric eigenproblem);
each step then multiplies every mode by exp(λ·dt) and adds its exact response to a constant
input. That is exact for any dt, from a millisecond to a minute, and costs a handful of small
vector operations.

Units: θ is the local delithiation fraction (0 = lithiated, 1 = delithiated). The input is
u = I/Q in 1/s (current over the particle's charge capacity), so fade changes Q without touching
the precomputed modes. The mean of θ rises at exactly u: charge conservation by construction.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import eigh

DEFAULT_SHELLS = 36
SURFACE_SHELL_FRACTION = 4.0e-4  # width of the outermost shell as a fraction of the radius
MAX_CACHED_STEPS = 512


def _shell_faces(n: int, first: float) -> np.ndarray:
    """Face radii (dimensionless, 0..1) with widths growing geometrically from the surface in."""
    lo, hi = 1.0 + 1e-9, 2.0
    for _ in range(200):  # bisection on the growth ratio so that the widths sum to 1
        ratio = 0.5 * (lo + hi)
        total = first * (ratio**n - 1.0) / (ratio - 1.0)
        lo, hi = (ratio, hi) if total < 1.0 else (lo, ratio)
    widths = first * ratio ** np.arange(n)
    widths /= widths.sum()
    faces = np.concatenate(([0.0], np.cumsum(widths[::-1])))
    faces[-1] = 1.0
    return faces


class SphericalDiffusion:
    """Modal state of a diffusing sphere; advance with `step`, read `mean` and `surface`."""

    def __init__(self, n_shells: int = DEFAULT_SHELLS) -> None:
        faces = _shell_faces(n_shells, SURFACE_SHELL_FRACTION)
        centres = 0.5 * (faces[:-1] + faces[1:])
        volumes = (faces[1:] ** 3 - faces[:-1] ** 3) / 3.0  # per steradian, sum = 1/3
        stiffness = np.zeros((n_shells, n_shells))
        for k in range(1, n_shells):  # conductance of each inner face between centres k-1, k
            g = faces[k] ** 2 / (centres[k] - centres[k - 1])
            stiffness[k - 1, k - 1] += g
            stiffness[k, k] += g
            stiffness[k - 1, k] -= g
            stiffness[k, k - 1] -= g
        mass = np.diag(volumes)
        mu, modes = eigh(stiffness, mass)  # K v = mu M v with v^T M v = 1
        mu[np.abs(mu) < 1e-9 * mu.max()] = 0.0
        self.n_shells = n_shells
        self._faces = faces
        self._centres = centres
        self._volumes = volumes
        self._modes = modes
        self._mu = mu  # dimensionless decay rates: lambda = -mu * D / R^2
        self._project = modes.T @ mass  # theta -> z
        # Flux through the surface face into the last shell: d(theta_N)/dt += u / (3 V_N).
        self._input = modes[-1, :] / 3.0  # dz/dt per unit u (= V^T M e_N / (3 V_N))
        self._surface_row = modes[-1, :].copy()  # theta_N from z
        self._mean_row = 3.0 * (volumes @ modes)  # volume-average theta from z
        # theta_s = theta_N + (1 - r_N) * dtheta/drho, with dtheta/drho = u R^2 / (3 D) at r = 1.
        self._surface_gap = 1.0 - centres[-1]
        self._z = np.zeros(n_shells)
        self._rate = 1.0  # D / R^2 in 1/s
        self._cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self._surface_per_u = self._surface_gap / (3.0 * self._rate)

    # --- configuration -------------------------------------------------------------------
    def set_rate(self, d_over_r2: float) -> None:
        """Set D/R² (1/s); clears the per-dt coefficient cache."""
        if not d_over_r2 > 0.0:
            raise ValueError("D/R² must be positive")
        self._rate = float(d_over_r2)
        self._surface_per_u = self._surface_gap / (3.0 * self._rate)
        self._cache.clear()

    def set_uniform(self, theta: float) -> None:
        """Put the whole particle at one composition (an equilibrated cell)."""
        self._z = self._project @ np.full(self.n_shells, float(theta))

    # --- time stepping -------------------------------------------------------------------
    def _coefficients(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        coeff = self._cache.get(dt)
        if coeff is None:
            lam = -self._mu * self._rate
            decay = np.exp(lam * dt)
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = np.where(lam < 0.0, np.expm1(lam * dt) / lam, dt)
            coeff = (decay, gain * self._input)
            if len(self._cache) >= MAX_CACHED_STEPS:
                self._cache.clear()
            self._cache[dt] = coeff
        return coeff

    def step(self, dt: float, u: float) -> None:
        """Advance by dt seconds at constant input u = I/Q (1/s)."""
        decay, gain = self._coefficients(dt)
        self._z = decay * self._z + gain * u

    # --- read-out ------------------------------------------------------------------------
    @property
    def mean(self) -> float:
        """Volume-averaged θ (the particle's SOC)."""
        return float(self._mean_row @ self._z)

    def surface(self, u: float = 0.0) -> float:
        """θ at the particle surface while input u flows."""
        return float(self._surface_row @ self._z) + self._surface_per_u * u

    def profile(self) -> tuple[np.ndarray, np.ndarray]:
        """(radius fraction of each shell centre, θ there), for plots and checks."""
        return self._centres.copy(), self._modes @ self._z

    def steady_offset(self) -> float:
        """Surface minus mean θ per unit u in the quasi-steady state (R²/(15 D) exactly)."""
        return 1.0 / (15.0 * self._rate)

    @property
    def slowest_time_constant_s(self) -> float:
        """1/|λ₁| of the slowest decaying mode, in seconds."""
        positive = self._mu[self._mu > 0.0]
        return math.inf if positive.size == 0 else 1.0 / (positive.min() * self._rate)
