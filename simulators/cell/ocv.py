"""NCM811-vs-Li open-circuit voltage as a smooth, monotonic function of state of charge.

SOC here is the cathode's delithiation fraction within the usable window: 0 = fully lithiated
(discharged, OCV = v_min), 1 = charged to v_max. The interior shape is a typical C/20 NCM811
half-cell curve; steep exponential tails pin the window ends so that a low-rate cut-off at v_min
or v_max lands within a fraction of a percent of the window edge. Outside [0, 1] the curve keeps
rising or falling steeply, so a cell pushed past its window runs into the voltage limits.

Evaluation goes through a dense lookup table with linear interpolation in plain Python: the cell
model calls it once per time step, and a table lookup is far cheaper than a spline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from simulators.errors import SimulatorError

# (SOC, V) of NCM811 vs Li at C/20, 3.0-4.3 V window, ~200 mAh/g. The end points are replaced by
# the window tails below.
NCM811_CORE: tuple[tuple[float, float], ...] = (
    (0.00, 3.50),
    (0.02, 3.52),
    (0.05, 3.57),
    (0.10, 3.625),
    (0.20, 3.69),
    (0.30, 3.74),
    (0.40, 3.79),
    (0.50, 3.85),
    (0.60, 3.92),
    (0.70, 3.99),
    (0.80, 4.07),
    (0.90, 4.155),
    (0.97, 4.225),
    (1.00, 4.25),
)

LOW_TAIL_WIDTH = 0.006  # SOC width of the steep fall to v_min at the discharged end
HIGH_TAIL_WIDTH = 0.008  # SOC width of the steep rise to v_max at the charged end
OUTSIDE_SLOPE_V = 25.0  # V per unit SOC beyond the window (the lattice is full or empty)
TABLE_POINTS = 4001


class OCVCurve:
    """Monotonic OCV(SOC) with its derivative, fast scalar evaluation and a numpy form."""

    def __init__(
        self,
        v_min: float,
        v_max: float,
        points: Sequence[Sequence[float]] | None = None,
    ) -> None:
        if not v_max > v_min:
            raise SimulatorError(
                f"OCV window is empty: v_max ({v_max}) must exceed v_min ({v_min})."
            )
        core = np.asarray(points if points is not None else NCM811_CORE, dtype=float)
        if core.ndim != 2 or core.shape[1] != 2 or len(core) < 3:
            raise SimulatorError("ocv_points must be a list of at least three [soc, volts] pairs.")
        soc, volts = core[:, 0], core[:, 1]
        if np.any(np.diff(soc) <= 0) or np.any(np.diff(volts) <= 0):
            raise SimulatorError("ocv_points must rise strictly in both SOC and voltage.")
        if soc[0] > 0.0 or soc[-1] < 1.0:
            raise SimulatorError("ocv_points must span SOC 0 to 1.")
        if volts[0] <= v_min or volts[-1] >= v_max + 0.5:
            raise SimulatorError(
                f"ocv_points ({volts[0]:.3f}-{volts[-1]:.3f} V) do not sit inside the window "
                f"{v_min}-{v_max} V."
            )
        self.v_min = float(v_min)
        self.v_max = float(v_max)
        volts = _fit_top(soc, volts, v_max)
        spline = PchipInterpolator(soc, volts, extrapolate=True)
        grid = np.linspace(0.0, 1.0, TABLE_POINTS)
        base = spline(grid)
        low_amp = float(spline(0.0)) - v_min
        high_amp = v_max - float(spline(1.0))
        values = (
            base
            - low_amp * np.exp(-grid / LOW_TAIL_WIDTH)
            + high_amp * np.exp((grid - 1.0) / HIGH_TAIL_WIDTH)
        )
        # The tails of the far ends leak a little into the other end; re-pin both ends exactly.
        values += np.linspace(v_min - values[0], v_max - values[-1], TABLE_POINTS)
        if np.any(np.diff(values) <= 0):
            raise SimulatorError("the OCV curve is not monotonic; check ocv_points and the window.")
        self._grid = grid
        self._values = values
        self._table = values.tolist()
        self._n = TABLE_POINTS - 1
        self._slope_lo = float(max(OUTSIDE_SLOPE_V, (values[1] - values[0]) * self._n))
        self._slope_hi = float(max(OUTSIDE_SLOPE_V, (values[-1] - values[-2]) * self._n))
        self._deriv = np.gradient(values, grid).tolist()

    def __call__(self, soc: float) -> float:
        """OCV in volts at one SOC (scalar, no numpy overhead)."""
        if soc <= 0.0:
            return self.v_min + self._slope_lo * soc
        if soc >= 1.0:
            return self.v_max + self._slope_hi * (soc - 1.0)
        x = soc * self._n
        i = int(x)
        frac = x - i
        t = self._table
        return t[i] + (t[i + 1] - t[i]) * frac

    def slope(self, soc: float) -> float:
        """dOCV/dSOC in volts per unit SOC (for the diffusion impedance)."""
        if soc <= 0.0:
            return self._slope_lo
        if soc >= 1.0:
            return self._slope_hi
        x = soc * self._n
        i = min(int(x), self._n - 1)
        frac = x - i
        d = self._deriv
        return d[i] + (d[i + 1] - d[i]) * frac

    def soc_at(self, volts: float) -> float:
        """Inverse: the SOC whose OCV is `volts` (clamped to the window)."""
        if volts <= self.v_min:
            return 0.0
        if volts >= self.v_max:
            return 1.0
        return float(np.interp(volts, self._values, self._grid))

    def array(self, soc: np.ndarray) -> np.ndarray:
        """Vectorised OCV for plots and tables."""
        soc = np.asarray(soc, dtype=float)
        inside = np.interp(soc, self._grid, self._values)
        below = self.v_min + self._slope_lo * soc
        above = self.v_max + self._slope_hi * (soc - 1.0)
        return np.where(soc < 0.0, below, np.where(soc > 1.0, above, inside))


def _fit_top(soc: np.ndarray, volts: np.ndarray, v_max: float) -> np.ndarray:
    """Compress the upper half of the core curve when the window's top cuts into it.

    A lower charge cut-off (4.25 V instead of 4.3 V) defines a smaller usable window; the preset's
    specific capacity refers to that window, so SOC 1 must sit just under the new v_max.
    """
    top_target = v_max - 0.05
    if volts[-1] <= top_target:
        return volts
    mid = float(np.interp(0.5, soc, volts))
    if top_target <= mid:
        raise SimulatorError(f"v_max {v_max} V is too low for the NCM811 OCV curve.")
    scaled = volts.copy()
    upper = soc > 0.5
    scaled[upper] = mid + (volts[upper] - mid) * (top_target - mid) / (volts[-1] - mid)
    return scaled


def ncm811_ocv(v_min: float = 3.0, v_max: float = 4.3) -> OCVCurve:
    """The built-in NCM811-vs-Li curve for a given voltage window."""
    return OCVCurve(v_min, v_max)
