"""The chamber's thermal plant: air temperature under the chamber's own controller, and cells
that lag behind the air.

Model (integrated on a fixed grid of `step_s` so the result does not depend on how often it is
observed):

- Under control (CONSTANT or RUN) the air follows a second-order response toward the control
  target, T'' = ω²(target − T) − 2ζω·T', with ω = 1/response_s and damping ζ < 1 giving a
  small overshoot. The air's rate T' is clipped to the heater's and the refrigerator's limits
  (heat_rate_K_min, cool_rate_K_min), which is why big steps start as straight ramps.
- In OFF or STANDBY the air drifts passively toward ambient with time constant loss_tau_s.
- In MANUAL (open loop, as a controller's manual mode) the output power is what the operator
  set, -100..100 % (cooling below 0): the air drifts passively plus that fraction of the
  heater's (or refrigerator's) full rate.
- The output power under control is the controller's effort: the rate it asks for beyond
  the passive drift, as a fraction of the heater's or refrigerator's full rate, clipped to
  ±100 % (a failed heater leaves the controller asking for full power in vain).
- A cell (a `ThermalLoad`) follows the air as a first-order lag with its own time constant.
- The sensor adds Gaussian noise.

Faults: heater failure (no heat: the air can only drift passively or cool), a controller
overshoot of `overshoot_K` above the setpoint, and a sensor dropout (readings become NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.errors import SimulatorError
from simulators.faults import check_fault, number

MODES = ("OFF", "STANDBY", "CONSTANT", "RUN", "MANUAL")
CHAMBER_FAULTS = ("heater-failure", "overshoot", "sensor-dropout")


@dataclass
class ThermalParams:
    """Physical constants of one chamber."""

    ambient_degC: float = 22.0
    heat_rate_K_min: float = 3.0
    cool_rate_K_min: float = 2.0
    response_s: float = 120.0  # 1/ω of the controlled air
    damping: float = 0.6  # ζ; below 1 the air overshoots a little
    loss_tau_s: float = 1800.0  # passive drift toward ambient with the controller off
    noise_K: float = 0.05
    min_degC: float = -40.0
    max_degC: float = 150.0
    step_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("heat_rate_K_min", "cool_rate_K_min", "response_s", "loss_tau_s", "step_s"):
            if not getattr(self, name) > 0:
                raise SimulatorError(f"chamber parameter {name} must be positive.")
        if not 0 < self.damping:
            raise SimulatorError("chamber parameter damping must be positive.")


@dataclass
class ChamberFaults:
    """Faults a test can inject into the chamber plant."""

    heater_failed: bool = False
    overshoot_K: float = 0.0  # the controller runs away this far above its setpoint
    sensor_dropout: bool = False


@dataclass
class ThermalLoad:
    """Something in the chamber (a cell in its fixture) that lags behind the air."""

    tau_s: float
    degC: float


@dataclass
class Ramp:
    start_t: float
    from_degC: float
    to_degC: float
    duration_s: float

    def target(self, t: float) -> float:
        if self.duration_s <= 0:
            return self.to_degC
        frac = min(1.0, max(0.0, (t - self.start_t) / self.duration_s))
        return self.from_degC + frac * (self.to_degC - self.from_degC)

    def done(self, t: float) -> bool:
        return t >= self.start_t + self.duration_s


@dataclass
class ChamberPlant:
    """Air temperature of one chamber, its controller state and the loads inside it."""

    params: ThermalParams = field(default_factory=ThermalParams)
    start_degC: float | None = None
    seed: int | None = None
    faults: ChamberFaults = field(default_factory=ChamberFaults)

    def __post_init__(self) -> None:
        p = self.params
        self.t = 0.0
        self.air_degC = p.ambient_degC if self.start_degC is None else self.start_degC
        self.rate_K_s = 0.0
        self.setpoint_degC = self.air_degC
        self.mode = "STANDBY"
        self.ramp: Ramp | None = None
        self.loads: list[ThermalLoad] = []
        self.setpoint_changed_at = 0.0
        self.manual_power_pct = 0.0  # the output power MANUAL mode applies
        self.power_pct = 0.0  # the output power now (heat > 0, cool < 0)
        self._rng = np.random.default_rng(self.seed)

    # -- commands (the instrument front ends call these) -----------------------------------
    def set_setpoint(self, degC: float) -> None:
        p = self.params
        if not p.min_degC <= degC <= p.max_degC:
            raise SimulatorError(
                f"setpoint {degC} °C is outside the chamber's {p.min_degC}..{p.max_degC} °C."
            )
        self.setpoint_degC = float(degC)
        self.setpoint_changed_at = self.t
        if self.mode == "RUN":  # a new constant setpoint ends a running ramp
            self.ramp = None
            self.mode = "CONSTANT"

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise SimulatorError(f"chamber mode {mode!r} is not one of {', '.join(MODES)}.")
        if mode == "RUN" and self.ramp is None:
            raise SimulatorError("the chamber has no program to run.")
        self.mode = mode
        if mode != "RUN":
            self.ramp = None

    def set_manual_power(self, pct: float) -> None:
        """The output power MANUAL mode applies, -100 (full cooling) to 100 % (full heat)."""
        if not -100.0 <= pct <= 100.0:
            raise SimulatorError(f"output power {pct} % is outside -100..100 %.")
        self.manual_power_pct = float(pct)

    def start_ramp(self, from_degC: float, to_degC: float, duration_s: float) -> None:
        """Run a one-step program: the control target moves linearly, then holds at the end."""
        for value in (from_degC, to_degC):
            self.set_setpoint(value)
        self.ramp = Ramp(self.t, from_degC, to_degC, max(0.0, duration_s))
        self.setpoint_degC = from_degC
        self.mode = "RUN"

    def current_setpoint(self) -> float:
        """The setpoint the controller works toward now (ramping while a program runs)."""
        if self.mode == "RUN" and self.ramp is not None:
            return self.ramp.target(self.t)
        return self.setpoint_degC

    def add_load(self, tau_s: float, degC: float | None = None) -> ThermalLoad:
        if not tau_s > 0:
            raise SimulatorError(f"thermal lag {tau_s} s must be positive.")
        load = ThermalLoad(tau_s, self.air_degC if degC is None else degC)
        self.loads.append(load)
        return load

    # -- faults ------------------------------------------------------------------------------
    def inject(self, fault: str, value: Any = None) -> None:
        """heater-failure, overshoot (`value` K above the setpoint, default 5) or
        sensor-dropout."""
        check_fault(fault, CHAMBER_FAULTS, "chamber")
        if fault == "heater-failure":
            self.faults.heater_failed = True
        elif fault == "overshoot":
            self.faults.overshoot_K = number(value, 5.0)
        else:
            self.faults.sensor_dropout = True

    def clear_faults(self) -> None:
        self.faults = ChamberFaults()

    def state(self) -> dict[str, Any]:
        """The true air temperature and controller state (the sensor only measures them)."""
        return {
            "air_degC": self.air_degC,
            "setpoint_degC": self.current_setpoint(),
            "mode": self.mode,
            "power_pct": self.power_pct,
            "faults": dict(vars(self.faults)),
        }

    # -- readings ----------------------------------------------------------------------------
    def measured_degC(self) -> float:
        """What the chamber's sensor reads now: the air plus noise, or NaN after a dropout."""
        if self.faults.sensor_dropout:
            return math.nan
        return self.air_degC + float(self._rng.normal(0.0, self.params.noise_K))

    # -- integration -------------------------------------------------------------------------
    def advance_to(self, t: float) -> None:
        """Integrate on the fixed grid up to simulated time `t`."""
        h = self.params.step_s
        while self.t + h <= t + 1e-9:
            self._step(h)

    def _step(self, h: float) -> None:
        p = self.params
        temp = self.air_degC
        passive = (p.ambient_degC - temp) / p.loss_tau_s
        heat_max, cool_max = p.heat_rate_K_min / 60.0, p.cool_rate_K_min / 60.0
        if self.mode in ("CONSTANT", "RUN"):
            target = self.current_setpoint() + self.faults.overshoot_K
            omega = 1.0 / p.response_s
            accel = omega * omega * (target - temp) - 2.0 * p.damping * omega * self.rate_K_s
            rate = self.rate_K_s + accel * h
            effort = rate - passive
            self.power_pct = max(
                -100.0, min(100.0, 100.0 * effort / (heat_max if effort > 0 else cool_max))
            )
            heat_limit = heat_max
            if self.faults.heater_failed:
                heat_limit = passive  # nothing but the room can warm the air
            rate = min(rate, heat_limit)
            rate = max(rate, -cool_max)
        elif self.mode == "MANUAL":
            self.power_pct = power = self.manual_power_pct
            heating = 0.0 if self.faults.heater_failed else heat_max
            rate = passive + power / 100.0 * (heating if power > 0 else cool_max)
        else:
            self.power_pct = 0.0
            rate = passive
        self.rate_K_s = rate
        self.air_degC = temp + rate * h
        self.t += h
        for load in self.loads:
            decay = math.exp(-h / load.tau_s)
            load.degC = self.air_degC + (load.degC - self.air_degC) * decay
        if self.mode == "RUN" and self.ramp is not None and self.ramp.done(self.t):
            self.setpoint_degC = self.ramp.to_degC
            self.ramp = None
            self.mode = "CONSTANT"  # end of a remote program: hold at its last temperature

    def settling_time(self, tolerance_K: float, horizon_s: float = 86_400.0) -> float:
        """Noise-free seconds from now until the air stays within tolerance of the setpoint.

        Integrates a copy of the plant (same state, no faults) so tests can compare a soak
        detected over the wire with what the physics allows.
        """
        twin = ChamberPlant(self.params, seed=0)
        twin.t, twin.air_degC, twin.rate_K_s = 0.0, self.air_degC, self.rate_K_s
        twin.setpoint_degC, twin.mode = self.setpoint_degC, self.mode
        twin.manual_power_pct = self.manual_power_pct
        if self.ramp is not None:
            twin.ramp = Ramp(
                self.ramp.start_t - self.t,
                self.ramp.from_degC,
                self.ramp.to_degC,
                self.ramp.duration_s,
            )
        final = self.ramp.to_degC if self.ramp is not None else self.setpoint_degC
        last_out = 0.0
        while twin.t < horizon_s:
            twin._step(self.params.step_s)
            if abs(twin.air_degC - final) > tolerance_K:
                last_out = twin.t
        return last_out
