"""Environment steps: set a temperature and soak, set a stack pressure and settle.

The runner calls `Environment.apply(step)` for `SetTemperature` and `SetPressure` steps. Every
wait runs on the bench's clock (a SimClock honours its time scale; a real bench passes a wall
clock), so soak timers mean the same thing against hardware and against simulators.

A temperature step sets the chamber (ramping on the controller when it can, host-side when it
cannot), then watches the air until it has been within tolerance for `stable_for_s` (the
SoakDetector), then holds for `soak_s` so the cells catch up with the air. While it waits it
fails early and specifically when:
- the air overshoots the target by more than `overshoot_limit_K` (OverTemperature);
- the air has not come `min_progress_K` closer to the target for `progress_window_s` while
  outside tolerance (ChamberStalled: heater or refrigeration failure);
- the step's timeout passes (SoakTimeout);
- the chamber reports no valid temperature (ChamberSensorError from the driver).
A pressure step asks the rig to hold the target on the cell area and waits until the stack
pressure has been within tolerance for `settle_s`; the rig's latched faults (leak, over-force,
drift) surface from `rig.read()`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from drivers.chamber import ChamberMode, TemperatureChamber
from drivers.clock import Clock, WallClock
from drivers.pressure import PressureRig
from protocols import steps as p
from scheduler.errors import SchedulerError
from scheduler.soak import SoakDetector, SoakStatus

D = TypeVar("D")  # a chamber or a rig
OnStable = Callable[[float], Awaitable[None]]  # told the soak seconds already held


class ChamberFault(SchedulerError):
    """The chamber is not doing what the step asked."""


class ChamberStalled(ChamberFault):
    """The air is not approaching the setpoint: a heater or refrigeration failure."""


class OverTemperature(ChamberFault):
    """The air went past the target by more than the allowed overshoot."""


@dataclass(frozen=True)
class EnvironmentSettings:
    poll_s: float = 30.0  # how often the chamber and rig are read during a wait
    overshoot_limit_K: float = 3.0
    progress_window_s: float = 900.0
    min_progress_K: float = 0.5
    host_ramp_step_s: float = 60.0  # setpoint update interval for host-side ramps


class Environment:
    """Chamber and rig of one slot, driven by protocol steps on the bench's clock."""

    def __init__(
        self,
        chamber: TemperatureChamber | None,
        rig: PressureRig | None,
        clock: Clock | None = None,
        *,
        cell_area_mm2: float | None = None,
        settings: EnvironmentSettings | None = None,
    ) -> None:
        self.chamber = chamber
        self.rig = rig
        self.clock: Clock = clock or WallClock()
        self.cell_area_mm2 = cell_area_mm2
        self.settings = settings or EnvironmentSettings()
        self.events: list[tuple[float, str]] = []  # (time, what happened), for the journal
        # Last readings, which the runner stores with each sample and spectrum.
        self.temperature_degC: float = math.nan
        self.pressure_MPa: float = math.nan

    async def apply(
        self, step: Any, *, soaked_s: float | None = None, on_stable: OnStable | None = None
    ) -> float:
        """Run one environment step; returns the simulated (clock) seconds it took.

        A temperature step resumed after a crash passes `soaked_s`, how long its soak had run
        by now (the air was stable before the crash): when the chamber still holds the target
        and the air is within tolerance, the soak goes on for the rest of its time instead of
        starting again. `on_stable(soaked_s)` is awaited once the air is stable (or the soak
        goes on), so the runner can journal it.
        """
        if isinstance(step, p.SetTemperature):
            if soaked_s is not None and await self._still_soaking(step):
                self._note(f"the air is still at {step.target_degC:g} °C: the soak goes on")
                return await self._soak(step.target_degC, step.soak_s, soaked_s, on_stable)
            return await self.set_temperature(
                step.target_degC,
                ramp_K_per_min=step.ramp_K_per_min,
                tolerance_K=step.tolerance_K,
                stable_for_s=step.stable_for_s,
                soak_s=step.soak_s,
                timeout_s=step.timeout_s,
                on_stable=on_stable,
            )
        if isinstance(step, p.SetPressure):
            return await self.set_pressure(
                step.target_Pa / 1e6,
                tolerance_MPa=step.tolerance_Pa / 1e6,
                settle_s=step.settle_s,
                timeout_s=step.timeout_s,
            )
        raise SchedulerError(f"step {getattr(step, 'index', '?')} is not an environment step")

    # -- temperature ---------------------------------------------------------------------------
    async def set_temperature(
        self,
        target_degC: float,
        *,
        ramp_K_per_min: float | None = None,
        tolerance_K: float = 0.5,
        stable_for_s: float = 0.0,
        soak_s: float = 0.0,
        timeout_s: float | None = None,
        on_stable: OnStable | None = None,
    ) -> float:
        chamber = _present(self.chamber, f"the temperature to {target_degC:g} °C", "chamber")
        if ramp_K_per_min is not None and not ramp_K_per_min > 0:
            raise SchedulerError(f"ramp rate {ramp_K_per_min} K/min must be positive")
        s = self.settings
        started = self.clock.now()
        detector = SoakDetector(
            target_degC,
            tolerance_K,
            stable_for_s,
            timeout_s,
            instrument=chamber.name,
            quantity="air temperature",
            unit="°C",
            started_at=started,
        )
        start_pv = (await chamber.read()).process_degC
        self.temperature_degC = start_pv
        direction = (
            0.0
            if abs(start_pv - target_degC) <= tolerance_K
            else math.copysign(1.0, target_degC - start_pv)
        )
        self._note(f"{chamber.name}: setpoint {target_degC:g} °C from {start_pv:.1f} °C")
        ramp_end = started
        if ramp_K_per_min is not None and chamber.supports_ramp:
            await chamber.set_temperature(target_degC, ramp_K_per_min=ramp_K_per_min)
            ramp_end = started + abs(target_degC - start_pv) / ramp_K_per_min * 60.0
        elif ramp_K_per_min is not None:
            await self._host_ramp(detector, start_pv, target_degC, ramp_K_per_min, direction)
            ramp_end = self.clock.now()
        else:
            await chamber.set_temperature(target_degC)
        best, best_at = abs(start_pv - target_degC), max(started, ramp_end)
        while True:
            reading = await chamber.read()
            now = self.clock.now()
            pv = self.temperature_degC = reading.process_degC
            self._check_overshoot(chamber.name, pv, target_degC, direction)
            status = detector.update(now, pv)
            if status is SoakStatus.STABLE:
                break
            ramping = now < ramp_end or reading.mode is ChamberMode.RUN
            distance = abs(pv - target_degC)
            if ramping or detector.within(pv) or distance < best - s.min_progress_K:
                best, best_at = min(best, distance), now
            elif now - best_at >= s.progress_window_s:
                raise ChamberStalled(
                    f"{chamber.name}: the air has not come closer to {target_degC:g} °C for "
                    f"{now - best_at:.0f} s (it reads {pv:.1f} °C); the heater or "
                    "refrigeration has likely failed"
                )
            await self.clock.sleep(s.poll_s)
        self._note(f"{chamber.name}: stable at {target_degC:g} °C")
        await self._soak(target_degC, soak_s, 0.0, on_stable)
        return self.clock.now() - started

    async def _still_soaking(self, step: p.SetTemperature) -> bool:
        """Does the chamber still hold the step's target, with the air within tolerance?"""
        chamber = _present(self.chamber, f"the temperature to {step.target_degC:g} °C", "chamber")
        reading = await chamber.read()
        self.temperature_degC = reading.process_degC
        holds = abs(reading.setpoint_degC - step.target_degC) < 0.01
        return holds and abs(reading.process_degC - step.target_degC) <= step.tolerance_K

    async def _soak(
        self, target_degC: float, soak_s: float, soaked_s: float, on_stable: OnStable | None
    ) -> float:
        """Hold at the target for what is left of `soak_s`; returns the clock seconds held."""
        chamber = _present(self.chamber, f"the temperature to {target_degC:g} °C", "chamber")
        if on_stable is not None:
            await on_stable(soaked_s)
        started = self.clock.now()
        soak_end = started + soak_s - soaked_s
        while (remaining := soak_end - self.clock.now()) > 0:
            await self.clock.sleep(min(self.settings.poll_s, remaining))
            pv = self.temperature_degC = (await chamber.read()).process_degC
            self._check_overshoot(chamber.name, pv, target_degC, 0.0)
        return self.clock.now() - started

    async def _host_ramp(
        self,
        detector: SoakDetector,
        start: float,
        target: float,
        rate_K_per_min: float,
        direction: float,
    ) -> None:
        """Move the setpoint toward `target` in small steps, for controllers that cannot ramp."""
        assert self.chamber is not None
        began = self.clock.now()
        duration = abs(target - start) / rate_K_per_min * 60.0
        while (elapsed := self.clock.now() - began) < duration:
            setpoint = start + (target - start) * elapsed / duration
            await self.chamber.set_temperature(round(setpoint, 2))
            await self.clock.sleep(min(self.settings.host_ramp_step_s, duration - elapsed))
            reading = await self.chamber.read()
            self._check_overshoot(self.chamber.name, reading.process_degC, target, direction)
            if detector.timeout_s is not None and self.clock.now() - began >= detector.timeout_s:
                detector.update(self.clock.now(), reading.process_degC)
        await self.chamber.set_temperature(target)

    def _check_overshoot(self, name: str, pv: float, target: float, direction: float) -> None:
        limit = self.settings.overshoot_limit_K
        past = (pv - target) * direction if direction else abs(pv - target)
        if past > limit:
            raise OverTemperature(
                f"{name}: the air reads {pv:.1f} °C, {abs(pv - target):.1f} K past the "
                f"{target:g} °C setpoint (more than the {limit:g} K allowed); cells in this "
                "chamber must be made safe"
            )

    # -- pressure -------------------------------------------------------------------------------
    async def set_pressure(
        self,
        target_MPa: float,
        *,
        tolerance_MPa: float = 0.5,
        settle_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> float:
        rig = _present(self.rig, f"the stack pressure to {target_MPa:g} MPa", "rig")
        started = self.clock.now()
        if target_MPa <= 0:
            await rig.release()
            self.pressure_MPa = 0.0
            self._note(f"{rig.name}: released")
            return self.clock.now() - started
        if self.cell_area_mm2 is None:
            raise SchedulerError(
                f"cannot hold {target_MPa:g} MPa: the cell's area is not known (give the cell an "
                "area so the rig can turn pressure into force)"
            )
        await rig.hold(target_MPa, area_mm2=self.cell_area_mm2)
        self._note(f"{rig.name}: holding {target_MPa:g} MPa on {self.cell_area_mm2:g} mm²")
        detector = SoakDetector(
            target_MPa,
            tolerance_MPa,
            settle_s,
            timeout_s,
            instrument=rig.name,
            quantity="stack pressure",
            unit="MPa",
            started_at=started,
        )
        while True:
            reading = await rig.read()
            self.pressure_MPa = reading.pressure_MPa
            if detector.update(self.clock.now(), reading.pressure_MPa) is SoakStatus.STABLE:
                break
            await self.clock.sleep(self.settings.poll_s)
        return self.clock.now() - started

    async def refresh(self) -> None:
        """Read the chamber and the rig once, so stored samples carry fresh conditions."""
        if self.chamber is not None:
            self.temperature_degC = (await self.chamber.read()).process_degC
        if self.rig is not None:
            self.pressure_MPa = (await self.rig.read()).pressure_MPa

    def _note(self, text: str) -> None:
        self.events.append((self.clock.now(), text))


def _present(device: D | None, what: str, role: str) -> D:
    """The slot's chamber or rig, which a step that sets `what` needs."""
    if device is None:
        raise SchedulerError(f"a step sets {what}, but this slot has no {role}")
    return device
