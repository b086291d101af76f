"""For any physically sensible cell, the whole stack recovers its own D and Ea.

Random cell parameters (D, Ea of charge transfer, Rct, capacity) go into the simulator as
preset overrides. GITT runs through the EmStat4 wire path (driver ↔ simulator over TCP) and
VT-EIS through a simulated slot (ESPEC chamber + EmStat4 on one clock); the stored data go
through the same dispatch as `cellbench analyze`, told only the diffusion length L."""

from __future__ import annotations

import asyncio

import pytest
from cell_strategies import CELL_PARAMETERS
from hypothesis import HealthCheck, Phase, given, settings

import protocols
from protocols.analysis.dispatch import analyze_run
from scheduler.analyze import load_run_data
from scheduler.binding import CellInfo
from scheduler.session import run_protocol
from scheduler.sim.bench import simulated_emstat4, simulated_slot
from simulators.cell import load_preset
from storage import open_store

BASE = load_preset("gao2025-dfncm-llzo")
L_UM = BASE.diffusion_length_um
TEMPERATURES = (25, 45, 65)


def gitt_protocol(d: float) -> str:
    """τ = 0.02 L²/D, relaxation 3 L²/D, current scaled with D so each pulse moves the surface
    about as far; logged 20 times per pulse."""
    l2d = (L_UM * 1e-4) ** 2 / d
    tau, rest = 0.02 * l2d, 3.0 * l2d
    rate = 0.5 * d / BASE.D_cm2_s
    return f"""
name: gitt-property
c_rate_basis: 200 mA h/g
safety: {{voltage_min: 2.8 V, voltage_max: 4.4 V, abs_current_max: 3C}}
analyses: [gitt]
steps:
  - rest: {{duration: {rest:.6g} s, record: {{dt: {rest / 100:.6g} s}}}}
  - pulse_train: {{rate: {rate:.6g}C, direction: charge, pulse: {tau:.6g} s,
                   relax: {rest:.6g} s, n_pulses: 3, record: {{dt: {tau / 20:.6g} s}}}}
"""


VT_EIS_PROTOCOL = """
name: vt-eis-property
analyses: [eis_fit, arrhenius_rct]
record: {dt: 60 s}
safety: {voltage_min: 2.8 V, voltage_max: 4.4 V, temperature_max: 75 degC}
steps:
  - for_each:
      over: {T: [25 degC, 45 degC, 65 degC]}
      steps:
        - set_temperature: {target: "${T}", ramp: 5 K/min, tolerance: 0.5 K, stable_for: 10 min,
                            soak: 30 min, timeout: 4 h}
        - eis: {mode: potentiostatic, f_start: 1 MHz, f_end: 0.1 Hz, points_per_decade: 8,
                amplitude: 10 mV, dc_bias: ocv}
"""


async def _run(tmp_path, name: str, text: str, overrides: dict, slot: bool) -> object:
    store = open_store(f"sqlite:///{tmp_path}/{name}.db")
    protocol = protocols.loads(text)
    cell = CellInfo(
        name,
        active_mass_g=BASE.active_mass_g,
        area_cm2=BASE.area_cm2,
        specific_capacity_mAh_g=200.0,
    )
    if slot:
        async with simulated_slot(BASE.name, overrides=overrides, time_scale=5e4) as bench:
            run_id, result = await run_protocol(
                store, protocol, cell, bench.driver, environment=bench.environment
            )
    else:
        async with simulated_emstat4(BASE.name, overrides=overrides) as channel:
            run_id, result = await run_protocol(store, protocol, cell, channel.driver)
    assert result.status == "completed", result.message
    data = load_run_data(store, run_id)
    only_L = {"name": name, "extra": {"diffusion_length_um": L_UM}}
    return analyze_run(
        data.samples,
        data.spectra,
        data.steps,
        cell=only_L,
        protocol_meta=data.protocol_meta,
        analyses=data.analyses,
    )


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: each example is seconds long
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(**CELL_PARAMETERS)
def test_wire_gitt_and_vt_eis_recover_the_cells_own_d_and_ea(
    tmp_path, d: float, ea: float, rct: float, capacity: float
) -> None:
    overrides = {
        "D_cm2_s": d,
        "Ea_ct_kJ_mol": ea,
        "Rct_ohm": rct,
        "specific_capacity_mAh_g": capacity,
        "initial_soc": 0.55,  # handed over at mid SOC, formation done
    }
    tag = f"{d:.3g}-{ea:.3g}-{rct:.3g}-{capacity:.3g}"
    gitt = asyncio.run(_run(tmp_path, f"gitt-{tag}", gitt_protocol(d), overrides, False))
    outcome = gitt.get("gitt")
    assert outcome is not None and outcome.summary["valid_pulses"] >= 2
    for pulse in outcome.result.valid_pulses:
        assert pulse.D_cm2_s == pytest.approx(d, rel=0.25)

    eis = asyncio.run(_run(tmp_path, f"eis-{tag}", VT_EIS_PROTOCOL, overrides, True))
    fit = eis.get("arrhenius_rct")
    assert fit.summary["temperatures_degC"] == pytest.approx(TEMPERATURES, abs=0.5)
    assert fit.summary["Ea_kJ_mol"] == pytest.approx(ea, rel=0.05)
