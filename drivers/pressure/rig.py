"""A pneumatic stack-pressure rig: an Alicat PC on the cylinder, a Mark-10 on the load cell.

The rig closes a force loop on the host (reference/instruments.md 3.4): every `period_s` it
reads the force, and sets the gas pressure to the feed-forward value (F_target + friction) /
A_piston plus a PI correction on the force error. The correction is what holds the stack
pressure while the fixture creeps. Anti-windup: the integral only moves when the output is not
pinned at 0 or full scale in the direction of the error, and is itself bounded.

Interlocks, checked on every pass, each latched as a specific error that `read()` raises:
- over-force: force above min(max_force_N, target·(1 + over_force_margin)) → the cylinder is
  vented at once (setpoint 0) and OverForceError is latched, within one period;
- gas leak: the gas pressure stays below its setpoint by more than the leak tolerance for
  `leak_confirm_s` → GasLeakError;
- force lost: the output is at full scale and the force is still below half the target for
  `leak_confirm_s` → ForceLostError;
- load-cell drift: the load cell disagrees with the force the cylinder must be giving
  (P_gas·A_piston − friction) by more than `drift_tolerance` of the target (+ 20 N) for
  `drift_confirm_s`, or reads past the over-force limit while the cylinder cannot be giving
  that much (then the cylinder is vented too) → LoadCellDriftError.
Times are measured on the clock the rig is given, so a simulated bench's clock works too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from drivers.clock import Clock, WallClock
from drivers.context import AsyncContext
from drivers.errors import InstrumentError
from drivers.pressure import (
    ForceLostError,
    GasLeakError,
    LoadCellDriftError,
    OverForceError,
    PressureReading,
    PressureRigError,
)
from drivers.pressure.alicat import AlicatPC
from drivers.pressure.mark10 import Mark10Gauge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RigSettings:
    piston_area_mm2: float
    friction_N: float = 0.0
    max_force_N: float = 2000.0
    over_force_margin: float = 0.25
    period_s: float = 30.0
    gain: float = 0.3  # loop gain: fraction of the force error corrected per pass
    integral_time_s: float = 600.0
    leak_tolerance: float = 0.05  # of the gas setpoint, plus leak_tolerance_Pa
    leak_tolerance_Pa: float = 5000.0
    leak_confirm_s: float = 120.0
    drift_tolerance: float = 0.2  # of the target force, plus 20 N
    drift_confirm_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("piston_area_mm2", "max_force_N", "period_s", "integral_time_s"):
            if not getattr(self, name) > 0:
                raise PressureRigError(f"rig setting {name} must be positive")


class PneumaticPressRig(AsyncContext):
    """`PressureRig` from an Alicat pressure controller and a Mark-10 force gauge."""

    def __init__(
        self,
        controller: AlicatPC,
        gauge: Mark10Gauge,
        settings: RigSettings,
        *,
        name: str = "stack-pressure rig",
        clock: Clock | None = None,
        on_fault: Callable[[PressureRigError | InstrumentError], None] | None = None,
    ) -> None:
        self.controller = controller
        self.gauge = gauge
        self.settings = settings
        self.name = name
        self.clock: Clock = clock or WallClock()
        self.on_fault = on_fault
        self.target_MPa: float | None = None
        self.area_mm2: float | None = None
        self.fault: PressureRigError | InstrumentError | None = None
        self.fault_at: float | None = None
        self.last: PressureReading | None = None
        self.commanded_Pa = 0.0
        self._integral_Pa = 0.0
        self._fresh = True  # the next pass applies the feed-forward alone
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._leak_since: float | None = None
        self._lost_since: float | None = None
        self._drift_since: float | None = None

    @property
    def _area_m2(self) -> float:
        return self.settings.piston_area_mm2 * 1e-6

    @property
    def target_N(self) -> float:
        return (
            0.0
            if self.target_MPa is None or self.area_mm2 is None
            else (self.target_MPa * self.area_mm2)
        )

    @property
    def force_limit_N(self) -> float:
        s = self.settings
        return min(s.max_force_N, self.target_N * (1.0 + s.over_force_margin) + 20.0)

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        await self.controller.open()
        await self.gauge.open()

    async def close(self) -> None:
        await self._stop_loop()
        await self.controller.close()
        await self.gauge.close()

    # -- capability ------------------------------------------------------------------------------
    async def hold(self, pressure_MPa: float, *, area_mm2: float) -> None:
        if not (math.isfinite(area_mm2) and area_mm2 > 0):
            raise PressureRigError(f"{self.name}: cell area {area_mm2} mm² must be positive")
        if not (math.isfinite(pressure_MPa) and pressure_MPa >= 0):
            raise PressureRigError(
                f"{self.name}: stack pressure {pressure_MPa} MPa must be zero or more"
            )
        force = pressure_MPa * area_mm2
        s = self.settings
        reachable = self.controller.full_scale_Pa * self._area_m2 - s.friction_N
        if force > s.max_force_N or force > reachable:
            raise PressureRigError(
                f"{self.name}: {pressure_MPa:g} MPa on {area_mm2:.1f} mm² needs {force:.0f} N, "
                f"beyond the rig's {min(s.max_force_N, reachable):.0f} N"
            )
        self._raise_fault()
        self.target_MPa, self.area_mm2 = float(pressure_MPa), float(area_mm2)
        self._leak_since = self._lost_since = self._drift_since = None
        await self.controller.cancel_hold()
        self._fresh = True
        if self._task is None or self._task.done():
            self._integral_Pa = 0.0
            self._task = asyncio.create_task(self._loop(), name=f"{self.name} force loop")

    async def read(self) -> PressureReading:
        self._raise_fault()
        force = await self.gauge.read_force_N()
        frame = await self.controller.poll()
        area = self.area_mm2 or 1.0
        reading = PressureReading(
            force,
            force / area if self.area_mm2 else math.nan,
            self.target_MPa,
            frame.pressure_Pa,
            self._task is not None and not self._task.done(),
        )
        self._raise_fault()
        return reading

    async def release(self) -> None:
        await self._stop_loop()
        self.target_MPa = None
        self.commanded_Pa = 0.0
        await self.controller.set_pressure(0.0)

    def check(self) -> None:
        """Raise the latched fault, if any (for a supervisor that polls)."""
        self._raise_fault()

    def reset_fault(self) -> None:
        """Clear a latched fault after the operator has dealt with it."""
        self.fault = None
        self.fault_at = None

    # -- internals -------------------------------------------------------------------------------
    def _raise_fault(self) -> None:
        if self.fault is not None:
            raise self.fault

    async def _stop_loop(self) -> None:
        """Stop the force loop. Python 3.11's wait_for can swallow a cancellation that lands as
        its read completes, so the loop also checks a stop flag and is cancelled until done."""
        task, self._task = self._task, None
        self._stopping = True
        try:
            while task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        finally:
            self._stopping = False
        if task is not None and not task.cancelled():
            task.exception()  # retrieved; a fault it raised is already latched

    def _latch(self, fault: PressureRigError | InstrumentError) -> None:
        self.fault = fault
        self.fault_at = self.clock.now()
        log.warning("%s", fault)
        if self.on_fault is not None:
            self.on_fault(fault)

    async def _loop(self) -> None:
        last_t = self.clock.now()
        try:
            while self.target_MPa is not None and not self._stopping:
                force = await self.gauge.read_force_N()
                frame = await self.controller.poll()
                now = self.clock.now()
                dt, last_t = max(0.0, now - last_t), now
                self.last = PressureReading(
                    force, force / (self.area_mm2 or 1.0), self.target_MPa, frame.pressure_Pa, True
                )
                fault = self._interlocks(now, force, frame.pressure_Pa)
                if fault is not None:
                    if force > self.force_limit_N:  # vent first, whatever the cause
                        with contextlib.suppress(InstrumentError):
                            await self.controller.set_pressure(0.0)
                            self.commanded_Pa = 0.0
                    self._latch(fault)
                    return
                await self._control(force, dt)
                await self.clock.sleep(self.settings.period_s)
        except asyncio.CancelledError:
            raise
        except InstrumentError as exc:
            self._latch(exc)

    def _interlocks(self, now: float, force: float, gas_Pa: float) -> PressureRigError | None:
        s = self.settings
        target = self.target_N
        expected = max(0.0, gas_Pa * self._area_m2 - s.friction_N)
        if force > self.force_limit_N:
            if expected < 0.9 * self.force_limit_N:  # the cylinder cannot be giving that force
                return LoadCellDriftError(
                    f"{self.name}: the load cell reads {force:.0f} N, past the interlock limit "
                    f"{self.force_limit_N:.0f} N, but the cylinder gives only {expected:.0f} N at "
                    f"{gas_Pa / 1e6:.3f} MPa; the load cell has drifted (cylinder vented as a "
                    "precaution; recalibrate it)"
                )
            return OverForceError(
                f"{self.name}: stack force {force:.0f} N passed the interlock limit "
                f"{self.force_limit_N:.0f} N; the cylinder was vented"
            )
        short = self.commanded_Pa - gas_Pa
        if short > s.leak_tolerance * self.commanded_Pa + s.leak_tolerance_Pa:
            self._leak_since = now if self._leak_since is None else self._leak_since
            if now - self._leak_since >= s.leak_confirm_s:
                return GasLeakError(
                    f"{self.name}: gas pressure {gas_Pa / 1e6:.3f} MPa has stayed below its "
                    f"setpoint {self.commanded_Pa / 1e6:.3f} MPa for "
                    f"{now - self._leak_since:.0f} s (a gas leak?); stack force {force:.0f} N "
                    f"of {target:.0f} N"
                )
        else:
            self._leak_since = None
        pinned = self.commanded_Pa >= self.controller.full_scale_Pa * 0.999
        if pinned and force < 0.5 * target:
            self._lost_since = now if self._lost_since is None else self._lost_since
            if now - self._lost_since >= s.leak_confirm_s:
                return ForceLostError(
                    f"{self.name}: stack force {force:.0f} N is below half its target "
                    f"{target:.0f} N with the gas at full scale"
                )
        else:
            self._lost_since = None
        settled = abs(short) <= s.leak_tolerance * self.commanded_Pa + s.leak_tolerance_Pa
        if settled and target > 0 and abs(force - expected) > s.drift_tolerance * target + 20.0:
            self._drift_since = now if self._drift_since is None else self._drift_since
            if now - self._drift_since >= s.drift_confirm_s:
                return LoadCellDriftError(
                    f"{self.name}: the load cell reads {force:.0f} N but the cylinder gives "
                    f"{expected:.0f} N at {gas_Pa / 1e6:.3f} MPa; the load cell has drifted "
                    "(recalibrate it)"
                )
        else:
            self._drift_since = None
        return None

    async def _control(self, force: float, dt: float) -> None:
        """Feed-forward plus a bounded PI correction; the first pass after a new target applies
        the feed-forward alone (the force read before the gas moved says nothing yet)."""
        s = self.settings
        top = self.controller.full_scale_Pa
        feed_forward = (self.target_N + s.friction_N) / self._area_m2 if self.target_N else 0.0
        # the correction may never push the force past half the over-force margin
        bound = 0.5 * s.over_force_margin * feed_forward
        if self._fresh:
            self._fresh = False
            self._integral_Pa = 0.0
            output = max(0.0, min(top, feed_forward))
        else:
            error = self.target_N - force
            per_newton = s.gain / self._area_m2  # Pa of gas per N of force error
            proportional = per_newton * error
            step = per_newton * error * min(dt, 4 * s.period_s) / s.integral_time_s
            candidate = max(-bound, min(bound, self._integral_Pa + step))
            correction = max(-bound, min(bound, proportional + candidate))
            raw = feed_forward + correction
            output = max(0.0, min(top, raw))
            winding = (raw > top and error > 0) or (raw < 0 and error < 0)
            if not winding:  # conditional integration: no windup while pinned at a limit
                self._integral_Pa = candidate
        if abs(output - self.commanded_Pa) >= 0.005 * self.controller.pa_per_unit:
            await self.controller.set_pressure(output)
            self.commanded_Pa = output
