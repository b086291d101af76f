"""For any physically sensible cell, the whole stack recovers its own D and Ea.

Random cell parameters (D over 1e-10…5e-8 cm²/s, Ea of charge transfer 15–60 kJ/mol, Rct,
capacity) go into the simulator as preset overrides. The GITT protocol is planned as a lab
would: from the stated L and a guess of D up to an order of magnitude off, with every rest
ending on |dV/dt| (at most many times the guessed L²/D). It runs through the EmStat4 wire path
(driver ↔ simulator over TCP) and VT-EIS through a simulated slot (ESPEC chamber + EmStat4 on
one clock); the stored data go through the same dispatch as `cellbench analyze`, told only the
diffusion length L. The model-fitted D must be within 10 %, Weppner–Huggins within 10 % of the
bias the analysis states for it, and Ea within 2 %."""

from __future__ import annotations

import asyncio

import pytest
from cell_strategies import CELL_PARAMETERS
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

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


def gitt_protocol(d_guess: float) -> str:
    """Planned from a guessed D: τ = 0.02 L²/D, the current scaled with D so that each pulse
    passes the same charge (ΔEs ≈ 3 mV), logged 20 times per pulse; each relaxation ends when
    |dV/dt| < 1 % of ΔEs per guessed L²/D, at most 100 guessed L²/D."""
    l2d = (L_UM * 1e-4) ** 2 / d_guess
    tau, longest = 0.02 * l2d, 100.0 * l2d
    rate = 0.5 * d_guess / BASE.D_cm2_s
    drift_mV_h = 0.01 * 3.0 / l2d * 3600
    return f"""
name: gitt-property
c_rate_basis: 200 mA h/g
safety: {{voltage_min: 2.8 V, voltage_max: 4.4 V, abs_current_max: 3C}}
analyses: [gitt]
steps:
  - rest: {{duration: {l2d:.6g} s, record: {{dt: {l2d / 100:.6g} s}}}}
  - pulse_train: {{rate: {rate:.6g}C, direction: charge, pulse: {tau:.6g} s,
                   relax: {longest:.6g} s, relax_until_dV_dt: {drift_mV_h:.6g} mV/h,
                   n_pulses: 3, record: {{dt: {tau / 20:.6g} s}}}}
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
    max_examples=4,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: each example is seconds long
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    log_d=st.floats(-10.0, -7.30103),  # D = 1e-10 … 5e-8 cm²/s
    log_guess=st.floats(-1.0, 1.0),  # the D the protocol is planned with, up to 10× off
    ea=st.floats(15.0, 60.0),
    rct=CELL_PARAMETERS["rct"],
    capacity=CELL_PARAMETERS["capacity"],
)
def test_wire_gitt_and_vt_eis_recover_the_cells_own_d_and_ea(
    tmp_path, log_d: float, log_guess: float, ea: float, rct: float, capacity: float
) -> None:
    d = 10.0**log_d
    overrides = {
        "D_cm2_s": d,
        "Ea_ct_kJ_mol": ea,
        "Rct_ohm": rct,
        "specific_capacity_mAh_g": capacity,
        "initial_soc": 0.55,  # handed over at mid SOC, formation done
    }
    tag = f"{d:.3g}-{log_guess:.2f}-{ea:.3g}-{rct:.3g}-{capacity:.3g}"
    protocol = gitt_protocol(d * 10.0**log_guess)
    gitt = asyncio.run(_run(tmp_path, f"gitt-{tag}", protocol, overrides, False))
    outcome = gitt.get("gitt")
    assert outcome is not None and outcome.summary["model_valid_pulses"] >= 2
    for pulse in outcome.result.model_valid_pulses:
        assert pulse.D_model_cm2_s == pytest.approx(d, rel=0.10)
        assert pulse.D_cm2_s == pytest.approx(d * (1.0 + pulse.wh_bias), rel=0.10)

    eis = asyncio.run(_run(tmp_path, f"eis-{tag}", VT_EIS_PROTOCOL, overrides, True))
    fit = eis.get("arrhenius_rct")
    assert fit.summary["temperatures_degC"] == pytest.approx(TEMPERATURES, abs=0.5)
    assert fit.summary["Ea_kJ_mol"] == pytest.approx(ea, rel=0.02)
