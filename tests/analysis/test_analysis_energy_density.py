"""Volumetric energy density from a hand-made cycle: the measured discharge energy over the
stack volume the cell records, through the pure function and through the cycle summary."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.analysis import AnalysisError, volumetric_energy_density
from protocols.analysis.dispatch import analyze_run

CURRENT_A = 1.0e-3
HOUR_S = 3600.0
AREA_CM2 = 0.785
CATHODE_UM = 96.0


def hand_made_cycle() -> tuple[dict[str, np.ndarray], float]:
    """One 1 h charge and one 1 h discharge at 1 mA with linear voltages, in BDF columns
    (cumulative capacities and energies by the trapezoid rule), and the exact discharge
    energy ∫V·|I|dt of the linear discharge voltage."""
    t_half = np.linspace(0.0, HOUR_S, 61)
    v_charge = np.linspace(3.6, 4.2, t_half.size)
    v_discharge = np.linspace(4.1, 3.5, t_half.size)
    time = np.concatenate([t_half, HOUR_S + 1.0 + t_half])
    voltage = np.concatenate([v_charge, v_discharge])
    current = np.concatenate([np.full(t_half.size, CURRENT_A), np.full(t_half.size, -CURRENT_A)])
    dt = np.diff(time, prepend=time[0])
    step_q = np.where(np.arange(time.size) % t_half.size == 0, 0.0, CURRENT_A * dt / HOUR_S)
    mean_v = np.concatenate([[voltage[0]], 0.5 * (voltage[1:] + voltage[:-1])])
    charging = current > 0
    samples = {
        "test_time_s": time,
        "voltage_V": voltage,
        "current_A": current,
        "cycle": np.ones(time.size, dtype=int),
        "charge_capacity_Ah": np.cumsum(np.where(charging, step_q, 0.0)),
        "discharge_capacity_Ah": np.cumsum(np.where(charging, 0.0, step_q)),
        "charge_energy_Wh": np.cumsum(np.where(charging, step_q * mean_v, 0.0)),
        "discharge_energy_Wh": np.cumsum(np.where(charging, 0.0, step_q * mean_v)),
    }
    exact_Wh = CURRENT_A * 1.0 * (4.1 + 3.5) / 2.0  # 1 h at 1 mA, mean of a linear voltage
    return samples, exact_Wh


def cycle_summary_of(extra: dict) -> dict:
    samples, _ = hand_made_cycle()
    cell = {"name": "hand-made", "active_mass_g": 0.005, "area_cm2": AREA_CM2, "extra": extra}
    report = analyze_run(samples, [], [], cell=cell, protocol_meta={}, analyses=["cycle_summary"])
    outcome = report.get("cycle_summary")
    assert outcome is not None
    return {"summary": outcome.summary, "notes": outcome.notes}


def test_the_pure_function_divides_the_energy_by_the_stack_volume() -> None:
    _, energy = hand_made_cycle()
    result = volumetric_energy_density(
        energy, area_cm2=AREA_CM2, cathode_um=CATHODE_UM, separator_um=30.0, anode_um=30.0
    )
    volume_cm3 = AREA_CM2 * (CATHODE_UM + 60.0) * 1e-4
    assert result.volume_cm3 == pytest.approx(volume_cm3)
    assert result.Wh_L == pytest.approx(energy / (volume_cm3 / 1000.0))
    assert "separator 30 µm" in result.volume and "anode 30 µm" in result.volume


def test_cycle_summary_reports_the_measured_discharge_energy_per_litre_of_stack() -> None:
    _, energy = hand_made_cycle()
    out = cycle_summary_of(
        {"thickness_um": CATHODE_UM, "stack_separator_um": 30.0, "stack_anode_um": 30.0}
    )
    stack_L = AREA_CM2 * (CATHODE_UM + 30.0 + 30.0) * 1e-4 / 1000.0
    assert out["summary"]["first_discharge_Wh_L"] == pytest.approx(energy / stack_L, rel=1e-9)
    volume = out["summary"]["energy_density_volume"]
    assert f"cathode {CATHODE_UM:g} µm" in volume and "separator 30 µm" in volume
    assert any("measured discharge energy" in note for note in out["notes"])


def test_without_a_stated_stack_the_cathode_layer_alone_is_the_volume() -> None:
    _, energy = hand_made_cycle()
    out = cycle_summary_of({"thickness_um": CATHODE_UM})
    cathode_L = AREA_CM2 * CATHODE_UM * 1e-4 / 1000.0
    assert out["summary"]["first_discharge_Wh_L"] == pytest.approx(energy / cathode_L, rel=1e-9)
    assert "cathode layer alone" in out["summary"]["energy_density_volume"]


def test_without_a_thickness_there_is_no_energy_density() -> None:
    out = cycle_summary_of({})
    assert "first_discharge_Wh_L" not in out["summary"]
    assert out["summary"]["first_discharge"] > 0  # the rest of the summary is still there


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"discharge_Wh": 0.0}, "discharge_Wh"),
        ({"area_cm2": float("nan")}, "area_cm2"),
        ({"cathode_um": 0.0}, "cathode_um"),
        ({"separator_um": -30.0}, "separator_um"),
    ],
)
def test_bad_input_is_one_sentence_naming_the_input(kwargs: dict, where: str) -> None:
    args = {"discharge_Wh": 0.01, "area_cm2": AREA_CM2, "cathode_um": CATHODE_UM, **kwargs}
    energy = args.pop("discharge_Wh")
    with pytest.raises(AnalysisError) as caught:
        volumetric_energy_density(energy, **args)
    assert caught.value.where == where
    assert caught.value.message.endswith(".") and "\n" not in str(caught.value)
