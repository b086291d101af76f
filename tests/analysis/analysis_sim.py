"""Drive the real cell model through a procedure and record BDF sample columns, as a cycler would.

The recorder logs at a chosen interval and always at the end of a step (as cyclers do), and adds
the preset's voltage noise, so the analyses see what an instrument would hand them.
"""

from __future__ import annotations

import numpy as np

from simulators.cell import Cell


class Recorder:
    """Steps a Cell at constant current and keeps the sample columns."""

    def __init__(self, cell: Cell, *, seed: int = 0, noise_V: float | None = None) -> None:
        self.cell = cell
        self.rng = np.random.default_rng(seed)
        self.noise = cell.params.noise_V if noise_V is None else noise_V
        self.time = 0.0
        self.step_count = 0
        self.cycle = 1
        self.q_ch = self.q_dis = self.e_ch = self.e_dis = 0.0
        self.rows: dict[str, list[float]] = {
            key: []
            for key in (
                "test_time_s",
                "voltage_V",
                "current_A",
                "step_time_s",
                "step_count",
                "step_index",
                "cycle",
                "charge_capacity_Ah",
                "discharge_capacity_Ah",
                "charge_energy_Wh",
                "discharge_energy_Wh",
            )
        }

    def _log(self, voltage: float, current: float, step_time: float, step_index: int) -> None:
        noisy = voltage + self.noise * float(self.rng.standard_normal())
        for key, value in (
            ("test_time_s", self.time),
            ("voltage_V", noisy),
            ("current_A", current),
            ("step_time_s", step_time),
            ("step_count", self.step_count),
            ("step_index", step_index),
            ("cycle", self.cycle),
            ("charge_capacity_Ah", self.q_ch),
            ("discharge_capacity_Ah", self.q_dis),
            ("charge_energy_Wh", self.e_ch),
            ("discharge_energy_Wh", self.e_dis),
        ):
            self.rows[key].append(value)

    def step(
        self,
        duration: float,
        current: float,
        *,
        dt: float,
        grow: float = 1.0,
        max_dt: float | None = None,
        step_index: int = 1,
        v_limit: float | None = None,
    ) -> float:
        """Hold `current` for `duration` s, logging every dt (growing by `grow` up to max_dt)."""
        self.step_count += 1
        elapsed, interval = 0.0, dt
        voltage = self.cell.voltage(current)
        while elapsed < duration - 1e-9:
            h = min(interval, duration - elapsed)
            voltage = self.cell.step(h, current)
            elapsed += h
            self.time += h
            charge = abs(current) * h / 3600.0
            if current > 0:
                self.q_ch += charge
                self.e_ch += charge * voltage
            elif current < 0:
                self.q_dis += charge
                self.e_dis += charge * voltage
            self._log(voltage, current, elapsed, step_index)
            interval = min(interval * grow, max_dt or interval * grow)
            if v_limit is not None and (
                (current > 0 and voltage >= v_limit) or (current < 0 and voltage <= v_limit)
            ):
                break
        return voltage

    def samples(self) -> dict[str, np.ndarray]:
        out = {key: np.asarray(values, dtype=float) for key, values in self.rows.items()}
        for key in ("step_count", "step_index", "cycle"):
            out[key] = out[key].astype(np.int64)
        return out


def gitt(
    cell: Cell,
    *,
    current_A: float,
    tau_s: float,
    points_per_pulse: int = 100,
    rest_s: float,
    pulses: int,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A GITT titration from the cell's present state: rest, then pulse + rest `pulses` times."""
    rec = Recorder(cell, seed=seed)
    rest_dt = dict(dt=0.1, grow=1.15, max_dt=max(1.0, rest_s / 200.0))
    rec.step(rest_s, 0.0, step_index=1, **rest_dt)
    for _ in range(pulses):
        rec.step(tau_s, current_A, dt=tau_s / points_per_pulse, step_index=2)
        rec.step(rest_s, 0.0, step_index=3, **rest_dt)
    return rec.samples()


def rate_ladder(
    cell: Cell,
    *,
    rates: list[float],
    cycles_per_rate: int,
    charge_rate: float = 0.2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """CC charge to v_max, rest, CC discharge at each rate to v_min, rest; cycle per pass."""
    p = cell.params
    rec = Recorder(cell, seed=seed)
    one_c = p.one_c_A
    for rate in rates:
        for _ in range(cycles_per_rate):
            i_ch = charge_rate * one_c
            rec.step(
                1.2 * 3600 / charge_rate,
                i_ch,
                dt=1e-4,
                grow=10.0,
                max_dt=60.0,
                step_index=1,
                v_limit=p.v_max,
            )
            rec.step(600.0, 0.0, dt=1e-4, grow=10.0, max_dt=60.0, step_index=2)
            i_dis = -rate * one_c
            rec.step(
                1.2 * 3600 / rate,
                i_dis,
                dt=1e-4,
                grow=10.0,
                max_dt=30.0 / rate,
                step_index=3,
                v_limit=p.v_min,
            )
            rec.step(600.0, 0.0, dt=1e-4, grow=10.0, max_dt=60.0, step_index=4)
            rec.cycle += 1
    return rec.samples()
