"""Small-signal impedance of the cell model, element by element.

    Z = R_series + R_film‖C_film + C_dl‖(R_ct + Z_diffusion)

Z_diffusion is finite-space (reflective) spherical diffusion, the linearisation of the same
sphere the time-domain model integrates:

    Z_d = (dU/dθ) · R² / (3·Q·D) · tanh(y) / (y − tanh(y)),   y = R·√(jω/D)

At low frequency it tends to 1/(jωC_int) + (dU/dθ)·R²/(15·Q·D): the intercalation capacitance
Q/(dU/dθ) in series with the steady diffusion resistance. At high frequency it is a Warburg
element. Capacitive parts have Im(Z) < 0.
"""

from __future__ import annotations

import numpy as np


def spherical_diffusion_shape(y: np.ndarray) -> np.ndarray:
    """tanh(y)/(y − tanh(y)), with its series for small |y| where the difference cancels."""
    y = np.asarray(y, dtype=complex)
    out = np.empty_like(y)
    small = np.abs(y) < 0.05
    ys = y[small]
    out[small] = 3.0 / ys**2 + 0.2 - ys**2 / 175.0
    yl = y[~small]
    # tanh of a large complex argument: use the stable form for Re(y) > 20
    t = np.where(yl.real > 20.0, 1.0 + 0j, np.tanh(np.where(yl.real > 20.0, 0.0, yl)))
    out[~small] = t / (yl - t)
    return out


def cell_impedance(
    frequency_Hz: np.ndarray,
    *,
    r_series: float,
    r_film: float,
    c_film: float,
    r_ct: float,
    c_dl: float,
    ocv_slope: float,
    capacity_c: float,
    radius_cm: float,
    d_cm2_s: float,
) -> np.ndarray:
    """Complex impedance (Ω) at each frequency for the given element values."""
    omega = 2.0 * np.pi * np.asarray(frequency_Hz, dtype=float)
    jw = 1j * omega
    y = radius_cm * np.sqrt(jw / d_cm2_s)
    z_diff = ocv_slope * radius_cm**2 / (3.0 * capacity_c * d_cm2_s) * spherical_diffusion_shape(y)
    z_faradaic = r_ct + z_diff
    z_ct = z_faradaic / (1.0 + jw * c_dl * z_faradaic)
    z_film = r_film / (1.0 + jw * r_film * c_film) if r_film > 0.0 else 0.0 * jw
    return r_series + z_film + z_ct
