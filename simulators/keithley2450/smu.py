"""The 2450's analog side: a current or voltage source with a limit, and its voltmeter.

Sourcing current, the SMU forces the programmed current unless the terminal voltage would
pass ±VLIM; then it holds the voltage at the limit (with the sign of the voltage that was
coming) and the current falls to whatever the cell takes there, never more than
programmed. That is the `TRIPped` state, and it ends when the cell would take the full
current again below the limit. Sourcing voltage, the SMU holds the level with |I| <= ILIM.

Holding a voltage is a control loop, here as on the instrument: each sub-step the current
is corrected by the voltage error over the cell's resistance, estimated by a secant
through the last two sub-steps, never below a stiff first guess so that the loop cannot
overshoot and ring. (Solving the cell's instantaneous voltage for the current
instead would chatter: the overpotentials relax within a sub-step, so the resistance the
cell shows after a sub-step is many times its ohmic resistance.)

Measuring resistance, the reading is V/I of the present source and voltmeter; with offset
compensation on, the instrument also measures with the source at zero and reports
(V_on - V_off)/I, which takes a cell's open-circuit voltage out of the reading.

Output off in HIMP opens the output relay (no current; the voltmeter floats near 0 V); the
other off-states are modelled as a 0 A source with the relay closed, so the voltmeter still
sees the cell. With remote sense off, the voltmeter also sees the drop across the leads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_CURRENT_A = 1.05
MAX_VOLTAGE_V = 210.0
MIN_VLIM_V = 0.02
MIN_ILIM_A = 1e-9
LEAD_OHM = 0.5  # two test leads in series, seen only in 2-wire sensing
FREE_SUBSTEP_S = 10.0  # the cell is stepped at least this often, to catch a limit crossing
HOLD_SUBSTEP_S = 1.0  # and this often while the SMU holds a voltage
MAX_SUBSTEPS = {False: 5000, True: 200}  # per advance, so a long gap stays cheap
OPEN_OHMS = 9.9e37  # no current flows: the reading overflows
STIFF_FACTOR = 20.0  # first resistance guess: this many times the ohmic slope


@dataclass
class _Hold:
    """A voltage the SMU is holding, and its control loop's memory."""

    target_V: float
    bound_A: float  # |I| may not exceed this
    current_A: float
    last: tuple[float, float] | None = None  # (current, voltage) after the last sub-step


class SMU:
    """Source, limit and measure against a cell; knows nothing about SCPI or time."""

    def __init__(self, cell: Any, *, seed: int | None = None) -> None:
        self.cell = cell
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """The *RST state (reference manual defaults)."""
        self.output = False
        self.off_mode = "NORM"
        self.source_function = "VOLT"
        self.sense_function = "CURR"
        self.current_level_A = 0.0
        self.voltage_level_V = 0.0
        self.vlim_V = 21.0
        self.ilim_A = 105e-6
        self.remote_sense = False
        self.offset_compensated = False
        self.readback = True
        self.tripped = False
        self._hold: _Hold | None = None

    # --- regime ------------------------------------------------------------------------------
    def settle(self) -> None:
        """Re-decide the regime after a setting changed (output, function, level, limit)."""
        self._hold = None
        if self.output and self.source_function == "VOLT":
            start = self._solve(self.voltage_level_V, self.ilim_A)
            self._hold = _Hold(self.voltage_level_V, self.ilim_A, start)
        elif self.output:
            self._check_limit()
        self.tripped = self._limited()

    def _check_limit(self) -> None:
        """Sourcing current: start holding ±VLIM if the programmed current would pass it."""
        level = self.current_level_A
        v = self.cell.voltage(level)
        if abs(v) > self.vlim_V:
            target = math.copysign(self.vlim_V, v)
            self._hold = _Hold(target, abs(level), self._solve(target, abs(level)))

    def _limited(self) -> bool:
        if self._hold is None:
            return False
        if self.source_function == "CURR":
            return True
        return abs(self._hold.current_A) >= self._hold.bound_A * (1 - 1e-9)

    def _solve(self, target_V: float, bound_A: float) -> float:
        """Bisect the cell's instantaneous voltage for a first guess at the held current."""
        lo, hi = -bound_A, bound_A
        if self.cell.voltage(lo) >= target_V:
            return lo
        if self.cell.voltage(hi) <= target_V:
            return hi
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self.cell.voltage(mid) < target_V:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-12 + 1e-9 * abs(mid):
                break
        return 0.5 * (lo + hi)

    def _present(self) -> tuple[float, float]:
        """(current into the cell, terminal voltage) right now."""
        if not self.output:
            return 0.0, self.cell.voltage(0.0)
        if self._hold is not None:
            return self._hold.current_A, self._hold.target_V
        return self.current_level_A, self.cell.voltage(self.current_level_A)

    @property
    def current_A(self) -> float:
        return self._present()[0]

    # --- time --------------------------------------------------------------------------------
    def advance(self, dt_s: float) -> None:
        """Let dt_s of simulated time pass at the present source settings."""
        if dt_s <= 0.0:
            return
        remaining = dt_s
        tripped = False
        while remaining > 1e-12:
            holding = self._hold is not None
            base = HOLD_SUBSTEP_S if holding else FREE_SUBSTEP_S
            h = min(remaining, max(base, dt_s / MAX_SUBSTEPS[holding]))
            if not self.output:
                self.cell.step(h, 0.0)
            elif self._hold is not None:
                self._hold_substep(h)
            else:
                self._check_limit()
                if self._hold is not None:
                    continue  # the limit is reached now: hold from here on
                v = self.cell.step(h, self.current_level_A)
                if abs(v) > self.vlim_V:  # crossed during the sub-step
                    self._check_limit()
            tripped = tripped or self._limited()
            remaining -= h
        self.tripped = tripped or self._limited()

    def _hold_substep(self, h: float) -> None:
        hold = self._hold
        assert hold is not None
        current = hold.current_A
        v = self.cell.step(h, current)
        probe = max(1e-6, abs(current) * 0.01, hold.bound_A * 0.01)
        ohmic = (self.cell.voltage(current + probe) - self.cell.voltage(current - probe)) / (
            2 * probe
        )
        slope = STIFF_FACTOR * max(ohmic, 1e-3)
        if hold.last is not None and abs(current - hold.last[0]) > 1e-12:
            secant = (v - hold.last[1]) / (current - hold.last[0])
            if math.isfinite(secant):
                slope = max(slope, secant)  # never steeper a correction than the cell allows
        hold.last = (current, v)
        wanted = current + (hold.target_V - v) / slope
        if self.source_function == "CURR":
            level = self.current_level_A
            beyond = wanted >= level if level >= 0 else wanted <= level
            if beyond and abs(v) <= self.vlim_V:
                self._hold = None  # the cell takes the full current again below the limit
                return
        hold.current_A = min(hold.bound_A, max(-hold.bound_A, wanted))

    # --- measurement -------------------------------------------------------------------------
    def measure(self, noise_scale: float = 1.0) -> tuple[float, float, bool]:
        """(source readback, sense reading, in limit) at this instant; `noise_scale` scales
        the voltmeter's noise (an averaging filter of n readings: 1/sqrt(n))."""
        if self.output and self.source_function == "CURR" and self._hold is None:
            self._check_limit()
        amps, volts = self._present()
        noise = float(getattr(getattr(self.cell, "params", None), "noise_V", 0.0) or 0.0)
        relay_open = not self.output and self.off_mode == "HIMP"
        if relay_open:
            volts = 0.0
        elif not self.remote_sense:
            volts += amps * LEAD_OHM
        volts += noise * noise_scale * float(self._rng.standard_normal())
        if self.source_function == "CURR":
            source = amps if self.readback else self.current_level_A
        else:
            source = volts if self.readback else self.voltage_level_V
        if self.sense_function == "RES":
            reading = self._ohms(amps, volts, relay_open)
        else:
            reading = volts if self.sense_function == "VOLT" else amps
        limited = self._limited()
        self.tripped = self.tripped or limited
        return source, reading, limited

    def _ohms(self, amps: float, volts: float, relay_open: bool) -> float:
        if relay_open or amps == 0.0:
            return OPEN_OHMS
        if self.offset_compensated:
            volts -= self.cell.voltage(0.0)
        return volts / amps
